/* Motor - traction motor + inverter: lagged limited torque, loss model, DC current, winding heat. */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(T_m > 0)) { log_error(M, "invalid parameter T_m = %g s: the time constant must be > 0", T_m); return 0; }
    if (!(tau_max > 0)) { log_error(M, "invalid parameter tau_max = %g N.m: must be > 0", tau_max); return 0; }
    if (!(P_max > 0)) { log_error(M, "invalid parameter P_max = %g W: must be > 0", P_max); return 0; }
    if (!(k_c >= 0 && k_i >= 0 && k_w >= 0 && P0 >= 0)) {
        log_error(M, "invalid loss coefficients k_c=%g k_i=%g k_w=%g P0=%g: losses must be >= 0",
                  k_c, k_i, k_w, P0);
        return 0;
    }
    if (!(alpha_cu >= 0)) { log_error(M, "invalid parameter alpha_cu = %g 1/K: must be >= 0", alpha_cu); return 0; }
    if (!(C_w > 0)) { log_error(M, "invalid parameter C_w = %g J/K: must be > 0", C_w); return 0; }
    if (!(G_th > 0)) { log_error(M, "invalid parameter G_th = %g W/K: must be > 0", G_th); return 0; }
    if (!(T_coolant > 0 && T_ref > 0)) {
        log_error(M, "invalid temperatures T_coolant=%g K T_ref=%g K: must be > 0", T_coolant, T_ref);
        return 0;
    }
    if (!(V_dc > 0)) {
        log_error(M, "invalid input V_dc = %g V: the DC-link voltage must be > 0", V_dc);
        return 0;
    }
    return 1;
}

void model_eval(Instance *M) {
    double aw = fabs(w);
    /* constant torque below base speed, constant power above (P_max/|w|) */
    tau_lim = (aw * tau_max > P_max) ? P_max / aw : tau_max;
    double target = tau_cmd > tau_lim ? tau_lim : (tau_cmd < -tau_lim ? -tau_lim : tau_cmd);
    der_tau = (target - tau) / T_m;

    double r_factor = 1.0 + alpha_cu * (T_winding - T_ref);
    if (r_factor < 0.0) r_factor = 0.0;
    P_cu = k_c * tau * tau * r_factor;
    P_loss = P_cu + k_i * aw + k_w * aw * aw * aw + P0;
    P_elec = tau * w + P_loss;
    I_dc = P_elec / V_dc;
    der_T_winding = (P_cu - G_th * (T_winding - T_coolant)) / C_w;
}
