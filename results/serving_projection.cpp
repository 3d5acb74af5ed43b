// Serving cost, energy and carbon; see serving_projection.h.
#include "results/serving_projection.h"

#include "results/projection.h"

namespace clustersim {
namespace {

constexpr double kSecondsPerYear = 365.25 * 86400;

// Per million tokens of `rate` (per second) shared `share` to tokens arriving at `tokens_per_s`.
double PerMillion(double rate, double share, double tokens_per_s) {
  return tokens_per_s > 0 ? rate * share / tokens_per_s * 1e6 : 0;
}

}  // namespace

void AddServingProjection(v1::RunResult& r) {
  const v1::Scenario& s = r.scenario();
  const v1::Facility f = ResolveFacility(s.facility(), s.name());
  v1::ServeResult& o = *r.mutable_serving();
  const double gpus = s.cluster().num_gpus();
  const double watts = r.power().facility_avg_w();
  const double lifetime_s = f.amortization_years() * kSecondsPerYear;
  double usd_per_s = 0;
  if (f.gpu_hour_usd() > 0) {
    usd_per_s = gpus * f.gpu_hour_usd() / 3600;
  } else {
    // The scale-up fabric is in the accelerator's price unless priced apart (sim/network_cost.h).
    const double scale_up_usd = r.topology().scale_up_in_accelerator() ? 0 : r.topology().scale_up_cost_usd();
    usd_per_s = (gpus * s.accelerator().price_usd() + r.topology().network_cost_usd() + scale_up_usd) / lifetime_s +
                watts / 3.6e6 * f.electricity_usd_per_kwh();
  }
  const double embodied_kg = gpus * s.accelerator().embodied_kgco2e() + r.topology().network_embodied_kgco2e() +
                             (r.topology().scale_up_in_accelerator() ? 0 : r.topology().scale_up_embodied_kgco2e());
  const double kg_per_s = watts / 3.6e6 * f.grid_carbon_g_per_kwh() / 1e3 + embodied_kg / lifetime_s;
  const double kwh_per_s = watts / 3.6e6;
  const double in = o.input_tokens_per_s(), out = o.output_tokens_per_s(), share = o.prefill_time_share();
  o.set_joules_per_output_token(out > 0 ? watts / out : 0);
  o.set_energy_kwh_per_m_input_tokens(PerMillion(kwh_per_s, share, in));
  o.set_energy_kwh_per_m_output_tokens(PerMillion(kwh_per_s, 1 - share, out));
  o.set_cost_usd_per_hour(usd_per_s * 3600);
  o.set_cost_usd_per_m_input_tokens(PerMillion(usd_per_s, share, in));
  o.set_cost_usd_per_m_output_tokens(PerMillion(usd_per_s, 1 - share, out));
  o.set_cost_usd_per_m_tokens_blended(PerMillion(usd_per_s, 1, in + out));
  o.set_carbon_kg_per_m_input_tokens(PerMillion(kg_per_s, share, in));
  o.set_carbon_kg_per_m_output_tokens(PerMillion(kg_per_s, 1 - share, out));
  o.set_energy_kwh_per_day(kwh_per_s * 86400);
  o.set_carbon_t_per_day(kg_per_s * 86400 / 1e3);
}

}  // namespace clustersim
