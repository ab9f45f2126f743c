/* BouncingBall - free fall h'' = -g with a restitution event at h = 0 (state event). */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(g > 0)) { log_error(M, "invalid parameter g = %g m/s2: gravity must be > 0", g); return 0; }
    if (!(e >= 0 && e <= 1)) {
        log_error(M, "invalid parameter e = %g: the coefficient of restitution must be in [0, 1]", e);
        return 0;
    }
    if (!(h0 >= 0)) { log_error(M, "invalid parameter h0 = %g m: the start height must be >= 0", h0); return 0; }
    if (!(v_min >= 0)) { log_error(M, "invalid parameter v_min = %g m/s: must be >= 0", v_min); return 0; }
    return 1;
}

void model_initialize(Instance *M) { h = h0; }

void model_eval(Instance *M) {
    der_h = resting ? 0.0 : v;
    der_v = resting ? 0.0 : -g;
}

/* the ground contact: h crosses 0; at rest the indicator stays positive (no more events) */
void model_event_indicators(Instance *M, double z[]) { z[0] = resting ? 1.0 : h; }

void model_event(Instance *M) {
    if (resting || !(h <= 0 && v < 0)) return;
    double rebound = -e * v;
    h = 0.0;
    if (rebound < v_min) {
        resting = true;
        v = 0.0;
        log_info(M, "t=%g: the ball rests (rebound speed %g m/s < v_min)", time_, rebound);
    } else {
        v = rebound;
        bounces += 1;
        log_info(M, "t=%g: bounce %d, rebound speed %g m/s", time_, (int)bounces, rebound);
    }
}
