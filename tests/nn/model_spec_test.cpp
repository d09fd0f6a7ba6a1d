// The model spec: parsing, the layers and keys it gives, its errors, the
// spec of a model (round trip), named_modules and freezing by prefix.
#include <gtest/gtest.h>

#include "core/generator.h"
#include "core/ops.h"
#include "nn/conv.h"
#include "nn/fashion_classifier.h"
#include "nn/layer_factory.h"
#include "nn/model_spec.h"
#include "optim/training_checkpoint.h"
#include "support/test_util.h"

using namespace torchless;
using torchless::test::contains;
using torchless::test::message_of;

namespace {
const char* kTutorialCnn =
    "layer1:[Conv2d(1, 16, 5, padding=2) BatchNorm2d(16) ReLU MaxPool2d(2)]\n"
    "layer2:[Conv2d(16, 32, 5, padding=2) BatchNorm2d(32) ReLU MaxPool2d(2)]  # 32 x 7 x 7\n"
    "Flatten fc:Linear(1568, 10)";

std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (const auto& [n, t] : v) out.push_back(n);
  return out;
}
}  // namespace

TEST(ModelSpec, IssueExampleBuildsAndRuns) {
  Generator g(1);
  auto m = nn::parse_model_spec("Conv2d(1,16,3,padding=1) ReLU MaxPool2d(2) Flatten Linear(3136,10)", &g);
  ASSERT_EQ(m->size(), 5u);
  EXPECT_EQ((*m)[0].type_name(), "Conv2d");
  EXPECT_EQ(dynamic_cast<nn::Conv2d&>((*m)[0]).padding, (nn::Conv2d::Pair{1, 1}));
  EXPECT_EQ(names(m->named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "4.weight", "4.bias"}));
  EXPECT_EQ((*m)(zeros({2, 1, 28, 28})).sizes(), (Shape{2, 10}));
  EXPECT_TRUE(nn::takes_image_planes(*m));
  EXPECT_FALSE(nn::takes_image_planes(*nn::parse_model_spec("Flatten Linear(784, 10)")));
  EXPECT_FALSE(nn::takes_image_planes(nn::FashionClassifier()));
}

TEST(ModelSpec, NamedAndNestedLayersGiveTorchKeys) {
  auto m = nn::parse_model_spec(kTutorialCnn);
  const auto sd = m->state_dict().keys();
  EXPECT_EQ(sd.front(), "layer1.0.weight");
  EXPECT_EQ(sd.back(), "fc.bias");
  EXPECT_TRUE(std::find(sd.begin(), sd.end(), "layer2.1.num_batches_tracked") != sd.end());
  EXPECT_EQ(sd.size(), 2u + 5u + 2u + 5u + 2u);
  std::vector<std::string> mods;
  for (const auto& [n, sub] : m->named_modules()) mods.push_back(n);
  EXPECT_EQ(mods, (std::vector<std::string>{"", "layer1", "layer1.0", "layer1.1", "layer1.2", "layer1.3", "layer2",
                                            "layer2.0", "layer2.1", "layer2.2", "layer2.3", "2", "fc"}));
  std::vector<std::string> kids;
  for (const auto& [n, c] : m->named_children()) kids.push_back(n);
  EXPECT_EQ(kids, (std::vector<std::string>{"layer1", "layer2", "2", "fc"}));
  EXPECT_EQ((*m)(zeros({3, 1, 28, 28})).sizes(), (Shape{3, 10}));
}

TEST(ModelSpec, SpecOfAModelRoundTrips) {
  auto m = nn::parse_model_spec(kTutorialCnn);
  const std::string spec = nn::model_spec(*m);
  EXPECT_EQ(spec,
            "layer1:[Conv2d(1, 16, (5, 5), padding=(2, 2)) BatchNorm2d(16) ReLU MaxPool2d((2, 2))] "
            "layer2:[Conv2d(16, 32, (5, 5), padding=(2, 2)) BatchNorm2d(32) ReLU MaxPool2d((2, 2))] Flatten "
            "fc:Linear(1568, 10)");
  EXPECT_EQ(nn::model_spec(*nn::parse_model_spec(spec)), spec);
  const std::string odd =
      "Conv2d(2, 4, (3, 1), stride=(2, 1), dilation=(1, 2), groups=2, bias=False) "
      "Conv2d(4, 4, (3, 3), padding='same') AvgPool2d((3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, "
      "count_include_pad=False, divisor_override=4) AdaptiveAvgPool2d((None, 2)) BatchNorm2d(4, eps=0.001, "
      "momentum=None, affine=False) Flatten(start_dim=0, end_dim=2) Softmax(dim=1) LogSoftmax GELU(approximate='tanh') Dropout(p=0.25) "
      "Sigmoid Tanh Identity MaxPool2d((2, 2), stride=(1, 1), dilation=(2, 2), ceil_mode=True) "
      "BatchNorm1d(3, track_running_stats=False)";
  EXPECT_EQ(nn::model_spec(*nn::parse_model_spec(odd)), odd);
  EXPECT_TRUE(contains(message_of([] { nn::model_spec(nn::FashionClassifier()); }), "FashionClassifier"));
}

TEST(ModelSpec, ErrorsNameTheProblem) {
  const auto err = [](const std::string& spec) { return message_of([&] { nn::parse_model_spec(spec); }); };
  EXPECT_TRUE(contains(err("Conv2d(1, 16, 3) Relu"), "column 18: unknown layer 'Relu' (layers: Sequential, Linear, Conv2d"));
  EXPECT_TRUE(contains(err("Conv2d(1, 16)"), "Conv2d: missing argument 'kernel_size' (Conv2d(in_channels, out_channels, kernel_size, stride=1"));
  EXPECT_TRUE(contains(err("Conv2d(1, 16, 3, paddin=1)"), "Conv2d: unknown argument 'paddin'"));
  EXPECT_TRUE(contains(err("Conv2d(1, 16, 3, 1, stride=2)"), "argument 'stride' given twice"));
  EXPECT_TRUE(contains(err("Linear(1, 2, True, 4)"), "takes at most 3 positional argument(s), got 4"));
  EXPECT_TRUE(contains(err("Linear(in_features=1, 2)"), "positional argument after a keyword argument"));
  EXPECT_TRUE(contains(err("Conv2d(1, 16, kernel_size='big')"), "'kernel_size' must be an int or a pair of ints, got 'big'"));
  EXPECT_TRUE(contains(err("Linear(1.5, 2)"), "'in_features' must be an int, got 1.5"));
  EXPECT_TRUE(contains(err("Linear(0, 2)"), "features must be positive"));
  EXPECT_TRUE(contains(err("Linear(1, 2"), "expected ')' to close Linear's '(' at column 7"));
  EXPECT_TRUE(contains(err("[ReLU"), "expected ']' to close the '[' at column 1"));
  EXPECT_TRUE(contains(err("ReLU ]"), "']' without a matching '['"));
  EXPECT_TRUE(contains(err("a:ReLU a:Tanh"), "column 8: two layers named 'a'"));
  EXPECT_TRUE(contains(err("  # only a comment"), "no layers"));
  EXPECT_TRUE(contains(err("[]"), "an empty [ ]"));
  EXPECT_TRUE(contains(err("Dropout(p=yes)"), "expected a value (a number, True, False, None"));
  EXPECT_TRUE(contains(err("Dropout(p='x)"), "unterminated string"));
  EXPECT_TRUE(contains(err("ReLU;Tanh"), "unexpected ';' after ReLU"));
  EXPECT_TRUE(contains(err("MaxPool2d(2, return_indices=True)"), "return_indices=True is not supported"));
  EXPECT_TRUE(contains(err("Linear(1, 99999999999999999999)"), "out of range"));
  EXPECT_TRUE(contains(err(std::string(100, '[')), "nested too deeply"));
}

TEST(Freeze, ByPrefixOnAnyModel) {
  auto m = nn::parse_model_spec(kTutorialCnn);
  optim::freeze(*m, {"layer1", "layer2"});
  for (const auto& [name, t] : m->named_parameters())
    EXPECT_EQ(t.requires_grad(), name.rfind("fc.", 0) == 0) << name;
  // A full parameter name, and a prefix that is not a whole module name.
  auto m2 = nn::parse_model_spec(kTutorialCnn);
  optim::freeze(*m2, {"layer1.0.weight"});
  EXPECT_FALSE(m2->named_parameters()[0].second.requires_grad());
  EXPECT_TRUE(m2->named_parameters()[1].second.requires_grad());
  const std::string e = message_of([&] { optim::freeze(*m2, {"layer"}); });
  EXPECT_TRUE(contains(e, "no module or parameter 'layer' (modules: layer1, layer1.0, layer1.1, layer2, layer2.0, layer2.1, fc)")) << e;
}
