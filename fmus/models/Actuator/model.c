/* Actuator - electromechanical flight-control actuator (EMA): PID position loop, DC motor,
 * gearbox, wear-dependent friction, aerodynamically loaded control surface, position sensor and
 * winding thermal node. Equations and sources: docs/models/ema.md. */
#include "model.h"
#include "accessors.h"

#define CHECK(cond, fmt, ...)                                   \
    do {                                                        \
        if (!(cond)) {                                          \
            log_error(M, "invalid parameter " fmt, __VA_ARGS__); \
            return 0;                                           \
        }                                                       \
    } while (0)

int model_check(Instance *M) {
    CHECK(N > 0, "N = %g: the gear ratio must be > 0", N);
    CHECK(R > 0, "R = %g Ohm: the winding resistance must be > 0", R);
    CHECK(L > 0, "L = %g H: the winding inductance must be > 0", L);
    CHECK(k_t > 0, "k_t = %g N.m/A: the torque constant must be > 0", k_t);
    CHECK(k_e > 0, "k_e = %g V.s/rad: the back-EMF constant must be > 0", k_e);
    CHECK(J_m > 0, "J_m = %g kg.m2: the rotor inertia must be > 0", J_m);
    CHECK(J_s >= 0, "J_s = %g kg.m2: the surface inertia must be >= 0", J_s);
    CHECK(wear >= 0 && wear <= 1, "wear = %g: must be in [0, 1] (0 new, 1 end of life)", wear);
    CHECK(T_c0 >= 0, "T_c0 = %g N.m: the Coulomb friction torque must be >= 0", T_c0);
    CHECK(b0 >= 0, "b0 = %g N.m.s/rad: the viscous friction coefficient must be >= 0", b0);
    CHECK(k_wear_c >= 0, "k_wear_c = %g: friction must not decrease with wear (>= 0)", k_wear_c);
    CHECK(k_wear_b >= 0, "k_wear_b = %g: friction must not decrease with wear (>= 0)", k_wear_b);
    CHECK(w_eps > 0, "w_eps = %g rad/s: the friction regularisation speed must be > 0", w_eps);
    CHECK(Kp >= 0 && Ki >= 0 && Kd >= 0, "gains Kp = %g, Ki = %g, Kd = %g: must be >= 0", Kp, Ki, Kd);
    CHECK(tau_d > 0, "tau_d = %g s: the derivative filter time constant must be > 0", tau_d);
    CHECK(V_max > 0, "V_max = %g V: the voltage limit must be > 0", V_max);
    CHECK(I_max > 0, "I_max = %g A: the current limit must be > 0", I_max);
    CHECK(delta_max > 0, "delta_max = %g rad: the command limit must be > 0", delta_max);
    CHECK(tau_cmd >= 0, "tau_cmd = %g s: the command prefilter time constant must be >= 0",
          tau_cmd);
    CHECK(S_s >= 0 && c_s >= 0, "S_s = %g m2, c_s = %g m: surface area and chord must be >= 0",
          S_s, c_s);
    CHECK(isfinite(C_h_delta), "C_h_delta = %g 1/rad: must be finite", C_h_delta);
    CHECK(tau_s > 0, "tau_s = %g s: the sensor time constant must be > 0", tau_s);
    CHECK(isfinite(bias), "bias = %g rad: must be finite", bias);
    CHECK(C_th > 0, "C_th = %g J/K: the heat capacity must be > 0", C_th);
    CHECK(G_th >= 0, "G_th = %g W/K: the thermal conductance must be >= 0", G_th);
    CHECK(alpha_cu >= 0, "alpha_cu = %g 1/K: must be >= 0", alpha_cu);
    CHECK(T_amb > -273.15, "T_amb = %g degC: below absolute zero", T_amb);
    CHECK(T_ref > -273.15, "T_ref = %g degC: below absolute zero", T_ref);
    CHECK(R * (1.0 + alpha_cu * (T_winding - T_ref)) > 0,
          "R = %g Ohm, alpha_cu = %g 1/K: the winding resistance at T_winding = %g degC is <= 0",
          R, alpha_cu, T_winding);
    return 1;
}

static double clamp(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* the prefilter starts at the command in effect (no start-up transient) */
void model_initialize(Instance *M) { x_cmd = delta_cmd; }

void model_eval(Instance *M) {
    /* command prefilter: first order, tau_cmd (0: the command itself) */
    der_x_cmd = tau_cmd > 0 ? (delta_cmd - x_cmd) / tau_cmd : 0.0;
    double command = tau_cmd > 0 ? x_cmd : delta_cmd;
    /* position controller: PID, derivative on the filtered measurement */
    double delta_ref = clamp(command, -delta_max, delta_max);
    e_pos = delta_ref - delta_meas;
    double rate_meas = (delta_meas - x_D) / tau_d;     /* = s/(tau_d s + 1) applied to delta_meas */
    u_pid = Kp * e_pos + x_I - Kd * rate_meas;
    /* drive limits: bus voltage and a current limit through the back-EMF voltage window */
    double u_hi = fmin(V_max, k_e * omega_m + R * I_max);
    double u_lo = fmax(-V_max, k_e * omega_m - R * I_max);
    u_motor = clamp(u_pid, u_lo, u_hi);
    /* anti-windup by conditional integration: hold the integrator while the output is limited
     * and the error would drive it further into the limit */
    int winding_up = (u_pid > u_hi && e_pos > 0) || (u_pid < u_lo && e_pos < 0);
    der_x_I = winding_up ? 0.0 : Ki * e_pos;
    der_x_D = (delta_meas - x_D) / tau_d;

    /* DC motor with temperature-dependent winding resistance */
    R_w = R * (1.0 + alpha_cu * (T_winding - T_ref));
    der_i_motor = (u_motor - R_w * i_motor - k_e * omega_m) / L;
    T_motor = k_t * i_motor;

    /* friction at the motor shaft, growing with wear */
    double T_c = T_c0 * (1.0 + k_wear_c * wear);
    double b_v = b0 * (1.0 + k_wear_b * wear);
    T_friction = T_c * tanh(omega_m / w_eps) + b_v * omega_m;

    /* control surface: one rigid drive train, reflected to the motor shaft */
    H_hinge = q_dyn * S_s * c_s * C_h_delta * delta;
    double J_eq = J_m + J_s / (N * N);
    der_omega_m = (T_motor - T_friction + H_hinge / N) / J_eq;
    der_delta = omega_m / N;

    /* position sensor */
    der_delta_meas = (delta + bias - delta_meas) / tau_s;

    /* winding thermal node */
    P_cu = R_w * i_motor * i_motor;
    der_T_winding = (P_cu - G_th * (T_winding - T_amb)) / C_th;

    P_elec = u_motor * i_motor;
}
