/* Vehicle - longitudinal vehicle dynamics (traction, drag, rolling resistance, grade, brakes). */
#include "model.h"
#include "accessors.h"

int model_check(Instance *M) {
    if (!(m > 0)) { log_error(M, "invalid parameter m = %g kg: the vehicle mass must be > 0", m); return 0; }
    if (!(J_m >= 0)) { log_error(M, "invalid parameter J_m = %g kg.m2: must be >= 0", J_m); return 0; }
    if (!(Cd >= 0 && A_f >= 0 && rho >= 0)) {
        log_error(M, "invalid drag parameters Cd=%g A_f=%g m2 rho=%g kg/m3: must be >= 0", Cd, A_f, rho);
        return 0;
    }
    if (!(Crr >= 0)) { log_error(M, "invalid parameter Crr = %g: must be >= 0", Crr); return 0; }
    if (!(g >= 0)) { log_error(M, "invalid parameter g = %g m/s2: must be >= 0", g); return 0; }
    if (!(G > 0)) { log_error(M, "invalid parameter G = %g: the gear ratio must be > 0", G); return 0; }
    if (!(eta > 0 && eta <= 1)) {
        log_error(M, "invalid parameter eta = %g: the gear efficiency must be in (0, 1]", eta);
        return 0;
    }
    if (!(r_w > 0)) { log_error(M, "invalid parameter r_w = %g m: the wheel radius must be > 0", r_w); return 0; }
    if (!(v_eps > 0)) { log_error(M, "invalid parameter v_eps = %g m/s: must be > 0", v_eps); return 0; }
    return 1;
}

void model_eval(Instance *M) {
    double m_eff = m + J_m * G * G / (r_w * r_w);
    double dir = tanh(v / v_eps);           /* smooth sign(v): no force at standstill */
    double fb = F_brake > 0.0 ? F_brake : 0.0;
    F_trac = tau_motor * G / r_w * (tau_motor >= 0.0 ? eta : 1.0 / eta);
    F_aero = 0.5 * rho * Cd * A_f * v * fabs(v);
    F_roll = Crr * m * g * cos(grade) * dir;
    F_grade = m * g * sin(grade);
    a = (F_trac - F_aero - F_roll - F_grade - fb * dir) / m_eff;
    der_v = a;
    der_distance = v;
    w_motor = v * G / r_w;
    v_kmh = 3.6 * v;
}
