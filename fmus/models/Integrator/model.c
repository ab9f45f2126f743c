/* Integrator - y' = k*(u + n) unless hold; counts the event updates after initialization. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    (void)M;
    return 1;
}

void model_eval(Instance *M) { der_y = hold ? 0.0 : k * (u + n); }

void model_event(Instance *M) {
    if (started) events += 1;
    started = true;
}
