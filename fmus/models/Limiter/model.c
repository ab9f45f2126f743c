/* Limiter - saturation y = min(max(u, lo), hi) that returns Warning while it clips. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(lo <= hi)) {
        log_error(M, "lo = %g must not exceed hi = %g", lo, hi);
        return 0;
    }
    return 1;
}

void model_eval(Instance *M) {
    clipped = u < lo || u > hi;
    y = clipped ? (u < lo ? lo : hi) : u;
    if (clipped) log_warning(M, "t=%g: u = %g clipped to [%g, %g]", time_, u, lo, hi);
}
