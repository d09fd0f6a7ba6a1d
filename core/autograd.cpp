#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/ops.h"

namespace torchless {
namespace {
thread_local bool g_grad_enabled = true;

// True if nothing else can see `t`'s buffer: the only handle to it is `t`.
bool exclusively_owned(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.storage().use_count() == 1 && t.is_contiguous() &&
         t.storage_offset() == 0 && t.storage().nbytes() == t.nbytes() && t.is_leaf();
}

// Adds `g` into the leaf's .grad (allocating it the first time).
void accumulate(const Tensor& leaf, Tensor g) {
  TensorImpl& impl = leaf.impl();
  Tensor gg = g.sizes() == leaf.sizes() ? std::move(g) : sum_to(g, leaf.sizes());
  if (gg.dtype() != leaf.dtype()) gg = gg.to(leaf.dtype());
  if (!impl.grad) {
    // Adopt a freshly computed gradient; copy one that someone else may hold
    // (AddBackward hands the same tensor to both of its inputs).
    impl.grad = exclusively_owned(gg) ? gg.impl_ptr() : gg.clone().impl_ptr();
  } else {
    Tensor acc(impl.grad);
    acc.copy_(add(acc, gg));
  }
}
}  // namespace

Node::~Node() {
  // Take over every node that only this subgraph keeps alive, so that each
  // is destroyed from this loop with its inputs already detached.
  std::vector<std::shared_ptr<Node>> pending;
  auto steal = [&pending](std::vector<Tensor>& inputs) {
    for (Tensor& t : inputs) {
      const auto& impl = t.impl_ptr();
      if (impl && impl.use_count() == 1 && impl->grad_fn && impl->grad_fn.use_count() == 1)
        pending.push_back(std::move(impl->grad_fn));
    }
    inputs.clear();
  };
  steal(inputs);
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    steal(node->inputs);
  }  // `node` dies here with no inputs left to recurse into
}

bool grad_mode_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

void record(Tensor& out, std::shared_ptr<Node> node) {
  if (!g_grad_enabled) return;
  bool needed = false;
  for (const auto& in : node->inputs) needed = needed || (in.defined() && in.requires_grad());
  if (!needed) return;
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
}

void record(Tensor& out, const char* name, std::vector<Tensor> inputs,
            std::function<std::vector<Tensor>(const Tensor&)> backward) {
  if (!g_grad_enabled) return;
  auto node = std::make_shared<LambdaNode>(name, std::move(backward));
  node->inputs = std::move(inputs);
  record(out, std::move(node));
}

void run_backward(const Tensor& root, const Tensor& grad) {
  if (grad.sizes() != root.sizes())
    throw std::invalid_argument("backward: grad_output shape " + shape_str(grad.sizes()) +
                                " differs from the output shape " + shape_str(root.sizes()));
  NoGradGuard no_grad;  // backward itself records nothing
  if (root.is_leaf()) {
    accumulate(root, grad.clone());
    return;
  }
  // Topological order of the nodes reachable from the root (iterative DFS:
  // deep graphs must not overflow the stack).
  std::vector<Node*> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  visited.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      Node* child = in.defined() ? in.grad_fn().get() : nullptr;
      if (child && visited.insert(child).second) stack.push_back({child, 0});
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = grad;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    auto found = grads.find(node);
    if (found == grads.end()) continue;
    Tensor g = std::move(found->second);
    grads.erase(found);
    std::vector<Tensor> in_grads = node->backward(g);
    for (size_t i = 0; i < node->inputs.size() && i < in_grads.size(); ++i) {
      const Tensor& in = node->inputs[i];
      Tensor& ig = in_grads[i];
      if (!ig.defined() || !in.defined() || !in.requires_grad()) continue;
      if (in.is_leaf()) {
        accumulate(in, std::move(ig));
      } else {
        auto [slot, inserted] = grads.try_emplace(in.grad_fn().get(), ig);
        if (!inserted) slot->second = add(slot->second, ig);
      }
    }
  }
}

}  // namespace torchless
