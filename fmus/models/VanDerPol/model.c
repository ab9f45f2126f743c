/* VanDerPol - the Van der Pol oscillator x1' = x2, x2' = mu (1 - x1^2) x2 - x1. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(mu >= 0)) { log_error(M, "invalid parameter mu = %g: must be >= 0", mu); return 0; }
    return 1;
}

void model_eval(Instance *M) {
    der_x1 = x2;
    der_x2 = mu * (1.0 - x1 * x1) * x2 - x1;
}
