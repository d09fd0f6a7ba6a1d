#pragma once
// Adam and AdamW with every option of torch.optim.Adam that changes the math,
// computed in the same order as PyTorch (so trajectories match to float
// rounding). Per-parameter state is kept in the layout of torch's optimizer
// state_dict: step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/value.h"

namespace torchless::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  bool maximize = false;
  /// AdamW: decay the weights directly (p *= 1 - lr*wd) instead of adding wd*p to the gradient.
  bool decoupled_weight_decay = false;
  /// Throws std::invalid_argument naming the bad option (torch's checks).
  void validate() const;
};

struct ParamGroup {
  std::vector<Tensor> params;
  AdamOptions options;
};

/// State of one parameter; undefined tensors until its first step.
struct AdamParamState {
  double step = 0;
  Tensor exp_avg;
  Tensor exp_avg_sq;
  Tensor max_exp_avg_sq;  ///< amsgrad only
};

class Adam {
 public:
  /// One group with `options`. Throws std::invalid_argument on bad options.
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {});
  explicit Adam(std::vector<ParamGroup> groups);
  virtual ~Adam() = default;

  /// One update of every parameter that has a gradient and requires grad
  /// (frozen parameters and those without .grad are skipped, like torch).
  void step();
  /// Drops every gradient (set_to_none, torch's default).
  void zero_grad();

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  /// State of the parameter at flat index i (torch's state_dict numbering:
  /// groups in order, params in order within each group).
  AdamParamState& state(size_t i) { return state_.at(i); }
  const AdamParamState& state(size_t i) const { return state_.at(i); }
  size_t num_params() const { return state_.size(); }
  /// "Adam" or "AdamW".
  virtual std::string type_name() const { return "Adam"; }

  /// torch.optim.Adam.state_dict()'s layout: {'state': {i: {'step': tensor
  /// (float32, 0-dim), 'exp_avg', 'exp_avg_sq'[, 'max_exp_avg_sq']}},
  /// 'param_groups': [{'lr', 'betas', 'eps', 'weight_decay', 'amsgrad',
  /// 'maximize', 'foreach', 'capturable', 'differentiable', 'fused',
  /// 'decoupled_weight_decay', 'params': [i...]}]} — what torch 2.11 writes.
  io::ValuePtr state_dict() const;
  /// Loads torch's layout (also older ones: int 'step', missing group keys).
  /// Throws std::invalid_argument naming what does not match (group or
  /// parameter counts, state shapes); on a throw nothing is changed.
  void load_state_dict(const io::ValuePtr& sd);

 private:
  std::vector<ParamGroup> groups_;
  std::vector<AdamParamState> state_;
};

/// AdamW: Adam with decoupled weight decay (default weight_decay 1e-2, like torch).
class AdamW : public Adam {
 public:
  static AdamOptions defaults() {
    AdamOptions o;
    o.weight_decay = 1e-2;
    o.decoupled_weight_decay = true;
    return o;
  }
  explicit AdamW(std::vector<Tensor> params, AdamOptions options = defaults());
  std::string type_name() const override { return "AdamW"; }
};

}  // namespace torchless::optim
