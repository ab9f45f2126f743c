/* FirstOrder - first-order lag T*dy/dt = k*u - y. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(T > 0)) { log_error(M, "invalid parameter T = %g s: the time constant must be > 0", T); return 0; }
    return 1;
}

void model_eval(Instance *M) { der_y = (k * u - y) / T; }
