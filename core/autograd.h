#pragma once
// Reverse-mode autograd over a dynamic graph, in micrograd's shape: each
// differentiable op records a Node holding what its backward needs; backward()
// sorts the graph topologically from the root and runs the nodes in reverse,
// accumulating (+=) into the .grad of leaves that require grad.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace torchless {

struct Node {
  /// The op's inputs, in order. Only those with requires_grad get gradients.
  std::vector<Tensor> inputs;
  /// Releases the graph behind this node iteratively: a chain of 100,000
  /// ops must not recurse 100,000 destructors deep.
  virtual ~Node();
  /// Given d(loss)/d(output), returns d(loss)/d(input_i) for each input
  /// (an undefined Tensor where an input needs no gradient).
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  virtual const char* name() const = 0;
};

/// A Node whose backward is a lambda: the common case for ops.
struct LambdaNode : Node {
  const char* op_name;
  std::function<std::vector<Tensor>(const Tensor&)> fn;
  LambdaNode(const char* n, std::function<std::vector<Tensor>(const Tensor&)> f)
      : op_name(n), fn(std::move(f)) {}
  std::vector<Tensor> backward(const Tensor& g) override { return fn(g); }
  const char* name() const override { return op_name; }
};

/// True unless inside a NoGradGuard.
bool grad_mode_enabled();

/// Scope in which ops record no graph (torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
 private:
  bool prev_;
};

/// True if grad mode is on and any input requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

/// Makes `out` the output of `node` (sets grad_fn and requires_grad) when
/// grad mode is on and some input requires grad; otherwise does nothing.
void record(Tensor& out, std::shared_ptr<Node> node);

/// Convenience: record a LambdaNode over `inputs`.
void record(Tensor& out, const char* name, std::vector<Tensor> inputs,
            std::function<std::vector<Tensor>(const Tensor&)> backward);

/// Runs backward from `root` seeded with `grad` (ones for a scalar root).
void run_backward(const Tensor& root, const Tensor& grad);

}  // namespace torchless
