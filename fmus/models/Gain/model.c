/* Gain - static gain with direct feedthrough, Integer pass-through and a Boolean flag. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    (void)M;
    return 1;
}

void model_eval(Instance *M) {
    y = k * u + b;
    n_out = n_in;
    positive = u > 0;
}
