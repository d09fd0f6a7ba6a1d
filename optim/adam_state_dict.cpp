// Adam/AdamW <-> torch.optim's state_dict value tree.
#include <cmath>
#include <stdexcept>

#include "core/autograd.h"
#include "optim/adam.h"

namespace torchless::optim {
namespace {

using io::Value;
using io::ValuePtr;
using K = Value::Kind;

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("optimizer state_dict: " + what); }

// torch writes its default weight_decay 0 as the int 0; keep that spelling.
ValuePtr number(double x) {
  if (x == 0.0) return Value::integer(0);
  return Value::floating(x);
}

double get_number(const ValuePtr& group, const char* key, double def) {
  ValuePtr v = group->get(key);
  if (!v || v->is_none()) return def;
  try {
    return v->as_number();
  } catch (const std::exception&) {
    bad(std::string("param_groups '") + key + "' is not a number: " + io::repr(v, 2));
  }
}

bool get_bool(const ValuePtr& group, const char* key, bool def) {
  ValuePtr v = group->get(key);
  if (!v || v->is_none()) return def;
  if (v->kind != K::Bool) bad(std::string("param_groups '") + key + "' is not a bool");
  return v->b;
}

Tensor state_tensor(const ValuePtr& st, const char* key, const Tensor& param, size_t index) {
  ValuePtr v = st->get(key);
  if (!v) return Tensor();
  if (!v->is_tensor()) bad("state[" + std::to_string(index) + "]['" + key + "'] is not a tensor");
  const Tensor& t = v->tensor;
  if (t.sizes() != param.sizes())
    bad("state[" + std::to_string(index) + "]['" + key + "'] has shape " + shape_str(t.sizes()) +
        ", the parameter has " + shape_str(param.sizes()));
  Tensor out = empty(param.sizes(), param.dtype(), param.device());
  out.copy_(t);
  return out;
}

}  // namespace

ValuePtr Adam::state_dict() const {
  auto state = Value::dict();
  for (size_t i = 0; i < state_.size(); ++i) {
    const AdamParamState& s = state_[i];
    if (!s.exp_avg.defined()) continue;
    auto entry = Value::dict();
    entry->set("step", Value::from_tensor(scalar_tensor(s.step, DType::Float32)));
    entry->set("exp_avg", Value::from_tensor(s.exp_avg.detach()));
    entry->set("exp_avg_sq", Value::from_tensor(s.exp_avg_sq.detach()));
    if (s.max_exp_avg_sq.defined()) entry->set("max_exp_avg_sq", Value::from_tensor(s.max_exp_avg_sq.detach()));
    state->set(Value::integer(static_cast<int64_t>(i)), entry);
  }
  auto groups = Value::list();
  int64_t index = 0;
  for (const auto& g : groups_) {
    const AdamOptions& o = g.options;
    auto d = Value::dict();
    d->set("lr", Value::floating(o.lr));
    d->set("betas", Value::tuple({Value::floating(o.beta1), Value::floating(o.beta2)}));
    d->set("eps", Value::floating(o.eps));
    d->set("weight_decay", number(o.weight_decay));
    d->set("amsgrad", Value::boolean(o.amsgrad));
    d->set("maximize", Value::boolean(o.maximize));
    d->set("foreach", Value::none());
    d->set("capturable", Value::boolean(false));
    d->set("differentiable", Value::boolean(false));
    d->set("fused", Value::none());
    d->set("decoupled_weight_decay", Value::boolean(o.decoupled_weight_decay));
    auto params = Value::list();
    for (size_t k = 0; k < g.params.size(); ++k) params->items.push_back(Value::integer(index++));
    d->set("params", params);
    groups->items.push_back(d);
  }
  auto root = Value::dict();
  root->set("state", state);
  root->set("param_groups", groups);
  return root;
}

void Adam::load_state_dict(const ValuePtr& sd) {
  if (!sd || !sd->is_dict()) bad("expected a dict with 'state' and 'param_groups'");
  ValuePtr groups = sd->get("param_groups");
  ValuePtr state = sd->get("state");
  if (!groups || (groups->kind != K::List && groups->kind != K::Tuple)) bad("'param_groups' is missing or not a list");
  if (!state || !state->is_dict()) bad("'state' is missing or not a dict");
  if (groups->items.size() != groups_.size())
    bad("it has " + std::to_string(groups->items.size()) + " parameter group(s), this optimizer has " +
        std::to_string(groups_.size()));
  // Build everything first; commit only if all of it checks out.
  std::vector<AdamOptions> new_options;
  std::vector<int64_t> saved_ids;  // flat index -> id used as key in 'state'
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ValuePtr& g = groups->items[gi];
    if (!g->is_dict()) bad("param_groups[" + std::to_string(gi) + "] is not a dict");
    ValuePtr params = g->get("params");
    if (!params || params->kind != K::List) bad("param_groups[" + std::to_string(gi) + "]['params'] is missing");
    if (params->items.size() != groups_[gi].params.size())
      bad("param_groups[" + std::to_string(gi) + "] has " + std::to_string(params->items.size()) +
          " parameters, this optimizer's group has " + std::to_string(groups_[gi].params.size()));
    for (const auto& p : params->items) saved_ids.push_back(p->as_int());
    AdamOptions o = groups_[gi].options;
    o.lr = get_number(g, "lr", o.lr);
    if (ValuePtr betas = g->get("betas")) {
      if ((betas->kind != K::Tuple && betas->kind != K::List) || betas->items.size() != 2) bad("'betas' is not a pair");
      o.beta1 = betas->items[0]->as_number();
      o.beta2 = betas->items[1]->as_number();
    }
    o.eps = get_number(g, "eps", o.eps);
    o.weight_decay = get_number(g, "weight_decay", o.weight_decay);
    o.amsgrad = get_bool(g, "amsgrad", o.amsgrad);
    o.maximize = get_bool(g, "maximize", o.maximize);
    o.decoupled_weight_decay = get_bool(g, "decoupled_weight_decay", o.decoupled_weight_decay);
    o.validate();
    new_options.push_back(o);
  }
  std::vector<AdamParamState> new_state(state_.size());
  size_t flat = 0;
  for (const auto& g : groups_)
    for (const auto& p : g.params) {
      const size_t i = flat++;
      ValuePtr st;
      for (const auto& [k, v] : state->entries)
        if (k->kind == K::Int && k->i == saved_ids[i]) st = v;
      if (!st) continue;  // no step taken yet for this parameter
      if (!st->is_dict()) bad("state[" + std::to_string(saved_ids[i]) + "] is not a dict");
      AdamParamState& s = new_state[i];
      ValuePtr step = st->get("step");
      if (!step) bad("state[" + std::to_string(saved_ids[i]) + "] has no 'step'");
      s.step = step->is_tensor() ? step->tensor.item() : step->as_number();
      s.exp_avg = state_tensor(st, "exp_avg", p, i);
      s.exp_avg_sq = state_tensor(st, "exp_avg_sq", p, i);
      s.max_exp_avg_sq = state_tensor(st, "max_exp_avg_sq", p, i);
      if (!s.exp_avg.defined() || !s.exp_avg_sq.defined())
        bad("state[" + std::to_string(saved_ids[i]) + "] lacks exp_avg or exp_avg_sq");
    }
  for (size_t gi = 0; gi < groups_.size(); ++gi) groups_[gi].options = new_options[gi];
  state_ = std::move(new_state);
}

}  // namespace torchless::optim
