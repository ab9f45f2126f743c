/* Driver - PI speed controller with anti-windup tracking NEDC / ECE-15 / test / input profiles. */
#include "model.h"
#include "accessors.h"

/* ECE-15 elementary urban cycle, UNECE R83/R101 Annex (Directive 70/220/EEC Annex III),
 * Table "Part One": operation end times (s) and speeds (km/h), linear in between. Gear changes
 * during accelerations keep the speed; the gear change before operation 23 goes 35 -> 32 km/h. */
#define N_ECE 26
static const double ECE_T[N_ECE] = {0, 11, 15, 23, 25, 28, 49, 54, 56, 61, 85, 93, 96,
                                    117, 122, 124, 133, 135, 143, 155, 163, 176, 178, 185, 188, 195};
static const double ECE_V[N_ECE] = {0, 0, 15, 15, 10, 0, 0, 15, 15, 32, 32, 10, 0,
                                    0, 15, 15, 35, 35, 50, 50, 35, 35, 32, 10, 0, 0};
/* Extra-urban driving cycle (EUDC), same annex, "Part Two" (400 s, max 120 km/h) */
#define N_EUDC 22
static const double EUDC_T[N_EUDC] = {0, 20, 25, 27, 36, 38, 46, 48, 61, 111, 119,
                                      188, 201, 251, 286, 316, 336, 346, 362, 370, 380, 400};
static const double EUDC_V[N_EUDC] = {0, 0, 15, 15, 35, 35, 50, 50, 70, 70, 50,
                                      50, 70, 70, 100, 100, 120, 120, 80, 50, 0, 0};
#define ECE_PERIOD 195.0
#define NEDC_URBAN 780.0   /* 4 x ECE-15 */
#define KMH 3.6

static double profile(Instance *M, double t) {
    switch (cycle) {
    case 1:
        return interp1(ECE_T, ECE_V, N_ECE, fmod(t, ECE_PERIOD)) / KMH;
    case 2:
        if (t < NEDC_URBAN) return interp1(ECE_T, ECE_V, N_ECE, fmod(t, ECE_PERIOD)) / KMH;
        return interp1(EUDC_T, EUDC_V, N_EUDC, t - NEDC_URBAN) / KMH;
    case 3: {
        const double tt[4] = {0.0, 10.0, 40.0, 50.0};
        const double vv[4] = {0.0, v_hold, v_hold, 0.0};
        return interp1(tt, vv, 4, t);
    }
    default:
        return v_ref_in;
    }
}

int model_check(Instance *M) {
    if (cycle < 0 || cycle > 3) {
        log_error(M, "invalid parameter cycle = %d: must be 0 (input), 1 (ECE-15), 2 (NEDC) or 3 (test)",
                  (int)cycle);
        return 0;
    }
    if (!(Kp >= 0 && Ki >= 0)) {
        log_error(M, "invalid PI gains Kp=%g N.s Ki=%g N: must be >= 0", Kp, Ki);
        return 0;
    }
    if (!(T_t > 0)) { log_error(M, "invalid parameter T_t = %g s: must be > 0", T_t); return 0; }
    if (!(tau_max > 0)) { log_error(M, "invalid parameter tau_max = %g N.m: must be > 0", tau_max); return 0; }
    if (!(tau_regen >= 0)) { log_error(M, "invalid parameter tau_regen = %g N.m: must be >= 0", tau_regen); return 0; }
    if (!(k_brake >= 0)) { log_error(M, "invalid parameter k_brake = %g 1/m: must be >= 0", k_brake); return 0; }
    if (!(v_hold >= 0)) { log_error(M, "invalid parameter v_hold = %g m/s: must be >= 0", v_hold); return 0; }
    return 1;
}

void model_eval(Instance *M) {
    v_ref = profile(M, time_);
    e = v_ref - v;
    u = Kp * e + I_term;
    u_sat = u > tau_max ? tau_max : (u < -tau_max ? -tau_max : u);
    /* back-calculation (Astrom & Hagglund): the integrator is pulled back by (u_sat - u)/T_t */
    der_I_term = Ki * e + (u_sat - u) / T_t;
    /* braking beyond the regenerative limit goes to the friction brakes */
    tau_cmd = u_sat < -tau_regen ? -tau_regen : u_sat;
    F_brake = k_brake * (tau_cmd - u_sat);
}
