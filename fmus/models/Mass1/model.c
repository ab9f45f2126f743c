/* Mass1 - mass 1 of the dual-mass oscillator (spring-damper to ground, external forces). */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(m1 > 0)) { log_error(M, "invalid parameter m1 = %g kg: the mass must be > 0", m1); return 0; }
    if (k1 < 0) { log_error(M, "invalid parameter k1 = %g N/m: stiffness must be >= 0", k1); return 0; }
    if (c1 < 0) { log_error(M, "invalid parameter c1 = %g N.s/m: damping must be >= 0", c1); return 0; }
    return 1;
}

void model_eval(Instance *M) {
    der_x1 = v1;
    der_v1 = (-k1 * x1 - c1 * v1 + F + F_ext) / m1;
}
