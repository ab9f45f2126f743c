/* Battery - Thevenin (R0 + one RC pair) pack model with OCV(SOC) table, thermal node and SOH. */
#include "model.h"
#include "accessors.h"

/* open-circuit voltage of one NMC/graphite cell (V) versus SOC; a typical shape (steep below
 * 10 % SOC, flat plateau around 3.6-3.7 V, rising to 4.2 V at full charge) */
#define N_OCV 13
static const double SOC_TAB[N_OCV] = {0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5,
                                      0.6, 0.7, 0.8, 0.9, 0.95, 1.0};
static const double OCV_TAB[N_OCV] = {3.00, 3.35, 3.45, 3.55, 3.61, 3.65, 3.70,
                                      3.78, 3.87, 3.96, 4.06, 4.12, 4.20};

int model_check(Instance *M) {
    if (!(capacity > 0)) {
        log_error(M, "invalid parameter capacity = %g A.h: the capacity must be > 0", capacity);
        return 0;
    }
    if (!(SOH_capacity > 0)) {
        log_error(M, "invalid parameter SOH_capacity = %g: the remaining-capacity factor must be > 0",
                  SOH_capacity);
        return 0;
    }
    if (!(SOH_resistance > 0)) {
        log_error(M, "invalid parameter SOH_resistance = %g: the resistance growth factor must be > 0",
                  SOH_resistance);
        return 0;
    }
    if (n_series < 1) {
        log_error(M, "invalid parameter n_series = %d: at least one cell in series is needed",
                  (int)n_series);
        return 0;
    }
    if (!(R0 >= 0)) { log_error(M, "invalid parameter R0 = %g Ohm: must be >= 0", R0); return 0; }
    if (!(R1 > 0)) { log_error(M, "invalid parameter R1 = %g Ohm: must be > 0", R1); return 0; }
    if (!(C1 > 0)) { log_error(M, "invalid parameter C1 = %g F: must be > 0", C1); return 0; }
    if (!(C_th > 0)) { log_error(M, "invalid parameter C_th = %g J/K: must be > 0", C_th); return 0; }
    if (!(hA >= 0)) { log_error(M, "invalid parameter hA = %g W/K: must be >= 0", hA); return 0; }
    if (!(T_amb > 0)) {
        log_error(M, "invalid input T_amb = %g K: an absolute temperature must be > 0", T_amb);
        return 0;
    }
    return 1;
}

void model_eval(Instance *M) {
    double q = capacity * SOH_capacity * 3600.0;   /* usable charge, A.s */
    double r0 = R0 * SOH_resistance, r1 = R1 * SOH_resistance;
    OCV = n_series * interp1(SOC_TAB, OCV_TAB, N_OCV, SOC);
    V = OCV - I * r0 - V_rc;
    P = V * I;
    Q_heat = I * I * r0 + V_rc * V_rc / r1;
    der_SOC = -I / q;
    der_V_rc = I / C1 - V_rc / (r1 * C1);
    der_T = (Q_heat - hA * (T - T_amb)) / C_th;
}
