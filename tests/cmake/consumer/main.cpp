// Builds a Linear layer, runs forward and backward, prints what it got.
#include <cstdio>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/linear.h"

int main() {
  using namespace torchless;
  nn::Linear fc(3, 2);
  {
    NoGradGuard no_grad;
    fc.weight.copy_(from_vector(std::vector<double>{1, 2, 3, -1, 0, 1}, {2, 3}));
    fc.bias.copy_(from_vector(std::vector<double>{0.5, -0.5}, {2}));
  }
  Tensor x = from_vector(std::vector<double>{1, 1, 1, 2, 0, -1}, {2, 3});
  Tensor y = fc(x);  // [[6.5, -0.5], [-0.5, -3.5]]
  Tensor loss = sum(y);
  loss.backward();
  std::printf("loss=%g\n", loss.item());
  std::printf("y=");
  for (double v : y.to_vector()) std::printf("%g,", v);
  std::printf("\ngrad_w=");
  for (double v : fc.weight.grad().to_vector()) std::printf("%g,", v);
  std::printf("\ngrad_b=");
  for (double v : fc.bias.grad().to_vector()) std::printf("%g,", v);
  std::printf("\n");
  return 0;
}
