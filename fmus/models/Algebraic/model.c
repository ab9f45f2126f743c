/* Algebraic - y = q or sign*sqrt(max(q, 0)), q quadratic in u1, u2; exact directional derivatives. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (sign != 1 && sign != -1) {
        log_error(M, "invalid parameter sign = %d: must be +1 or -1", (int)sign);
        return 0;
    }
    return 1;
}

static double q_of(Instance *M) { return c0 + c1 * u1 + c2 * u2 + c11 * u1 * u1 + c22 * u2 * u2; }

void model_eval(Instance *M) {
    double q = q_of(M);
    y = root ? sign * sqrt(q > 0 ? q : 0.0) : q;
}

/* dy/du = dy/dq * dq/du; for the root dy/dq = sign / (2 sqrt(q)) where q > 0, and 0 where
   y is clamped (q <= 0; at q = 0 the one-sided derivative is infinite, reported as 0) */
int model_directional(Instance *M, const unsigned unknown[], size_t nu, const unsigned known[],
                      size_t nk, const double seed[], double sensitivity[]) {
    double q = q_of(M);
    double dydq = !root ? 1.0 : (q > 0 ? sign / (2.0 * sqrt(q)) : 0.0);
    double dq = 0.0;
    for (size_t k = 0; k < nk; k++) {
        if (known[k] == VR_u1) dq += (c1 + 2.0 * c11 * u1) * seed[k];
        else if (known[k] == VR_u2) dq += (c2 + 2.0 * c22 * u2) * seed[k];
        else {
            log_error(M, "directional derivative: known value reference %u is not u1 or u2", known[k]);
            return 0;
        }
    }
    for (size_t k = 0; k < nu; k++) {
        if (unknown[k] != VR_y) {
            log_error(M, "directional derivative: unknown value reference %u is not y", unknown[k]);
            return 0;
        }
        sensitivity[k] = dydq * dq;
    }
    return 1;
}
