/* Mass2 - mass 2 of the dual-mass oscillator and the coupling spring-damper to mass 1. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(m2 > 0)) { log_error(M, "invalid parameter m2 = %g kg: the mass must be > 0", m2); return 0; }
    if (k2 < 0 || c2 < 0 || kc < 0 || cc < 0) {
        log_error(M, "invalid parameters k2=%g c2=%g kc=%g cc=%g: stiffness and damping must be >= 0",
                  k2, c2, kc, cc);
        return 0;
    }
    return 1;
}

void model_eval(Instance *M) {
    F = kc * (x2 - x1) + cc * (v2 - v1);
    der_x2 = v2;
    der_v2 = (-k2 * x2 - c2 * v2 - F) / m2;
}
