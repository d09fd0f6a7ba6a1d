// Every fixture under tests/data/torch-*/ (written by real PyTorch 2.11 and
// 1.13) loads, and holds exactly what its manifest.json (and, where the
// manifest only names the kind, what PyTorch printed when it was made) says.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ops.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "io/torch_module.h"
#include "io/torch_rebuild.h"
#include "nn/fashion_classifier.h"
#include "nn/state_dict.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace torchless;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::string kData211 = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/";
const std::string kData113 = std::string(TORCHLESS_TEST_DATA) + "/torch-1.13/";

// ---- a tiny JSON reader (enough for the manifests) ----
struct Json {
  enum class T { Null, Bool, Num, Str, Arr, Obj } t = T::Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;
  const Json& operator[](const std::string& k) const {
    for (const auto& [key, v] : obj)
      if (key == k) return v;
    throw std::out_of_range("json: no key " + k);
  }
  bool has(const std::string& k) const {
    for (const auto& kv : obj)
      if (kv.first == k) return true;
    return false;
  }
};

class JsonParser {
 public:
  explicit JsonParser(std::string s) : s_(std::move(s)) {}
  Json parse() {
    Json j = value();
    ws();
    if (p_ != s_.size()) throw std::runtime_error("json: trailing data");
    return j;
  }

 private:
  void ws() {
    while (p_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[p_]))) ++p_;
  }
  char peek() {
    ws();
    if (p_ >= s_.size()) throw std::runtime_error("json: unexpected end");
    return s_[p_];
  }
  void expect(char c) {
    if (peek() != c) throw std::runtime_error(std::string("json: expected ") + c);
    ++p_;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (p_ < s_.size() && s_[p_] != '"') {
      if (s_[p_] == '\\') {
        ++p_;
        const char e = s_[p_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const unsigned cp = std::stoul(s_.substr(p_, 4), nullptr, 16);
            p_ += 4;
            if (cp < 0x80) {
              out += static_cast<char>(cp);
            } else if (cp < 0x800) {
              out += static_cast<char>(0xC0 | (cp >> 6));
              out += static_cast<char>(0x80 | (cp & 0x3F));
            } else {
              out += static_cast<char>(0xE0 | (cp >> 12));
              out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
              out += static_cast<char>(0x80 | (cp & 0x3F));
            }
            break;
          }
          default: out += e;
        }
      } else {
        out += s_[p_++];
      }
    }
    ++p_;
    return out;
  }
  Json value() {
    Json j;
    const char c = peek();
    if (c == '{') {
      j.t = Json::T::Obj;
      ++p_;
      if (peek() == '}') {
        ++p_;
        return j;
      }
      for (;;) {
        std::string k = string();
        expect(':');
        j.obj.emplace_back(std::move(k), value());
        if (peek() == ',') {
          ++p_;
          continue;
        }
        expect('}');
        return j;
      }
    }
    if (c == '[') {
      j.t = Json::T::Arr;
      ++p_;
      if (peek() == ']') {
        ++p_;
        return j;
      }
      for (;;) {
        j.arr.push_back(value());
        if (peek() == ',') {
          ++p_;
          continue;
        }
        expect(']');
        return j;
      }
    }
    if (c == '"') {
      j.t = Json::T::Str;
      j.str = string();
      return j;
    }
    if (s_.compare(p_, 4, "true") == 0) {
      p_ += 4;
      j.t = Json::T::Bool;
      j.b = true;
      return j;
    }
    if (s_.compare(p_, 5, "false") == 0) {
      p_ += 5;
      j.t = Json::T::Bool;
      return j;
    }
    if (s_.compare(p_, 4, "null") == 0) {
      p_ += 4;
      return j;
    }
    size_t used = 0;
    j.t = Json::T::Num;
    j.num = std::stod(s_.substr(p_, 64), &used);
    p_ += used;
    return j;
  }
  std::string s_;
  size_t p_ = 0;
};

Json read_manifest(const std::string& dir) {
  return JsonParser(read_file(dir + "manifest.json")).parse();
}

// Nested JSON arrays -> (shape, row-major values).
void flatten(const Json& j, size_t depth, Shape& shape, std::vector<double>& out) {
  if (j.t != Json::T::Arr) {
    out.push_back(j.num);
    return;
  }
  if (shape.size() <= depth) shape.push_back(static_cast<int64_t>(j.arr.size()));
  for (const auto& x : j.arr) flatten(x, depth + 1, shape, out);
}

void expect_tensor(const Tensor& t, const Json& expected, const std::string& what) {
  Shape shape;
  std::vector<double> want;
  flatten(expected, 0, shape, want);
  std::vector<double> got = tensor_values(t);
  Shape got_shape = t.sizes();
  if (is_complex(t.dtype())) got_shape.push_back(2);
  if (expected.t == Json::T::Arr && expected.arr.empty()) shape = {0};
  if (t.numel() == 0) {
    EXPECT_TRUE(want.empty()) << what;
    EXPECT_TRUE(got.empty()) << what;
    return;
  }
  if (expected.t == Json::T::Arr) {
    EXPECT_EQ(got_shape, shape) << what;
  }
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << what << " element " << i;
}

io::ValuePtr state_entry(const io::ValuePtr& state, int64_t i) {
  for (const auto& [k, v] : state->entries)
    if (k->kind == io::Value::Kind::Int && k->i == i) return v;
  return nullptr;
}

std::vector<std::string> all_fixtures() {
  std::vector<std::string> out;
  for (const std::string& dir : {kData211, kData113}) {
    const Json m = read_manifest(dir);
    for (const auto& [name, info] : m["files"].obj) out.push_back(dir + name);
  }
  return out;
}

}  // namespace

TEST(TorchFixtures, ManifestsListEveryFile) {
  const Json m211 = read_manifest(kData211), m113 = read_manifest(kData113);
  EXPECT_EQ(m211["torch_version"].str.substr(0, 4), "2.11");
  EXPECT_EQ(m113["torch_version"].str.substr(0, 4), "1.13");
  EXPECT_EQ(m211["files"].obj.size(), 12u);
  EXPECT_EQ(m113["files"].obj.size(), 1u);
  for (const auto& f : all_fixtures()) EXPECT_TRUE(std::ifstream(f).good()) << f;
}

TEST(TorchFixtures, EveryFixtureLoads) {
  for (const auto& f : all_fixtures()) {
    SCOPED_TRACE(f);
    io::Checkpoint ck;
    ASSERT_NO_THROW(ck = io::load_checkpoint(f, [] {
                      io::LoadOptions o;
                      o.map_location = io::MapLocation::parse("cpu");
                      return o;
                    }()));
    ASSERT_TRUE(ck.root);
    EXPECT_EQ(ck.format, f.find("legacy") != std::string::npos ? "legacy" : "zip");
  }
}

TEST(TorchFixtures, DtypesExactValues) {
  const Json want = read_manifest(kData211)["files"]["dtypes.pt"]["values"];
  const io::ValuePtr root = io::load(kData211 + "dtypes.pt");
  ASSERT_TRUE(root->is_dict());
  EXPECT_EQ(root->keys().size(), want.obj.size());
  for (const auto& [name, values] : want.obj) {
    SCOPED_TRACE(name);
    io::ValuePtr v = root->get(name);
    ASSERT_TRUE(v && v->is_tensor());
    const Tensor& t = v->tensor;
    EXPECT_EQ(dtype_name(t.dtype()), name);
    EXPECT_EQ(t.sizes(), (Shape{3, 4}));
    EXPECT_EQ(t.strides(), (Shape{4, 1}));
    expect_tensor(t, values, name);
  }
  // The narrow floats really are stored in their own formats.
  const Tensor h = root->at("float16")->tensor;
  EXPECT_EQ(h.nbytes(), 24u);
  EXPECT_EQ(static_cast<const uint16_t*>(h.raw_data())[0], float_to_half(1.984375f));
  EXPECT_EQ(root->at("bfloat16")->tensor.storage().nbytes(), 24u);
  EXPECT_EQ(root->at("float8_e4m3fn")->tensor.storage().nbytes(), 12u);
  EXPECT_EQ(root->at("complex128")->tensor.storage().nbytes(), 12u * 16u);
}

TEST(TorchFixtures, ViewsShareOneStorage) {
  const Json manifest = read_manifest(kData211)["files"]["views.pt"];
  const io::ValuePtr root = io::load(kData211 + "views.pt");
  for (const auto& [name, values] : manifest["values"].obj) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(root->get(name) && root->get(name)->is_tensor());
    const Tensor& t = root->at(name)->tensor;
    if (values.t == Json::T::Num) {
      EXPECT_EQ(t.dim(), 0);
      EXPECT_EQ(t.item(), values.num);
    } else {
      expect_tensor(t, values, name);
    }

  }
  const void* id = root->at("base")->tensor.storage().id();
  for (const auto& n : manifest["shared"].arr) EXPECT_EQ(root->at(n.str)->tensor.storage().id(), id) << n.str;
  EXPECT_NE(root->at("expand")->tensor.storage().id(), id);
  struct Geo {
    const char* name;
    Shape sizes, strides;
    int64_t offset;
  };
  for (const Geo& g : {Geo{"base", {4, 6}, {6, 1}, 0}, Geo{"t", {6, 4}, {1, 6}, 0}, Geo{"row2", {6}, {1}, 12},
                       Geo{"col3", {4}, {6}, 3}, Geo{"slice", {2, 3}, {6, 1}, 8}, Geo{"expand", {4, 3}, {0, 1}, 0},
                       Geo{"scalar", {}, {}, 0}, Geo{"empty", {0, 5}, {5, 1}, 0}}) {
    const Tensor& t = root->at(g.name)->tensor;
    EXPECT_EQ(t.sizes(), g.sizes) << g.name;
    EXPECT_EQ(t.strides(), g.strides) << g.name;
    EXPECT_EQ(t.storage_offset(), g.offset) << g.name;
  }
  EXPECT_EQ(root->at("base")->tensor.storage().nbytes(), 24u * 4u);
  EXPECT_EQ(root->at("int_scalar")->tensor.dtype(), DType::Int64);
  EXPECT_EQ(root->at("int_scalar")->tensor.item(), 42);
  // A write through one view shows through the others, as in torch.
  Tensor base = root->at("base")->tensor;
  static_cast<float*>(base.raw_data())[14] = -1.0f;
  EXPECT_EQ(root->at("t")->tensor.to_vector()[2 * 4 + 2], -1.0);
  EXPECT_EQ(root->at("row2")->tensor.to_vector()[2], -1.0);
  EXPECT_EQ(root->at("slice")->tensor.to_vector()[3], -1.0);
}

TEST(TorchFixtures, NestedPythonValues) {
  using K = io::Value::Kind;
  const io::ValuePtr r = io::load(kData211 + "nested.pt");
  EXPECT_EQ(r->keys(), (std::vector<std::string>{"input_size", "output_size", "epochs", "batch_size", "class_to_idx",
                                                  "lr", "name", "none", "flags", "tuple", "big", "neg", "bytes",
                                                  "state_dict"}));
  EXPECT_EQ(r->at("input_size")->as_int(), 2208);
  EXPECT_EQ(r->at("output_size")->as_int(), 102);
  EXPECT_EQ(r->at("epochs")->as_int(), 10);
  EXPECT_EQ(r->at("batch_size")->as_int(), 64);
  const io::ValuePtr c2i = r->at("class_to_idx");
  ASSERT_EQ(c2i->keys().size(), 10u);
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(c2i->at(std::to_string(i))->as_int(), i - 1);
  EXPECT_EQ(r->at("lr")->kind, K::Float);
  EXPECT_EQ(r->at("lr")->f, 0.003);
  EXPECT_EQ(r->at("name")->as_str(), "densenet161 \xC3\xA9\xE4\xB8\xAD");  // 'densenet161 é中'
  EXPECT_TRUE(r->at("none")->is_none());
  const io::ValuePtr flags = r->at("flags");
  ASSERT_EQ(flags->kind, K::List);
  ASSERT_EQ(flags->items.size(), 2u);
  EXPECT_EQ(flags->items[0]->kind, K::Bool);
  EXPECT_TRUE(flags->items[0]->b);
  EXPECT_FALSE(flags->items[1]->b);
  const io::ValuePtr tup = r->at("tuple");
  ASSERT_EQ(tup->kind, K::Tuple);
  ASSERT_EQ(tup->items.size(), 3u);
  EXPECT_EQ(tup->items[0]->as_int(), 1);
  EXPECT_EQ(tup->items[1]->f, 2.5);
  EXPECT_EQ(tup->items[2]->as_str(), "x");
  // 1180591620717411303424 = 2**70, little-endian two's complement
  const io::ValuePtr big = r->at("big");
  ASSERT_EQ(big->kind, K::BigInt);
  EXPECT_EQ(big->s, std::string(8, '\0') + "\x40");
  EXPECT_EQ(r->at("neg")->as_int(), -123456789012LL);
  EXPECT_EQ(r->at("bytes")->kind, K::Bytes);
  EXPECT_EQ(r->at("bytes")->s, std::string("\x00\x01" "abc", 5));
  const io::ValuePtr sd = r->at("state_dict");
  EXPECT_EQ(sd->cls, "collections.OrderedDict");
  const Tensor fc = sd->at("fc")->tensor;
  EXPECT_EQ(fc.sizes(), (Shape{2, 2}));
  EXPECT_EQ(fc.to_vector(), (std::vector<double>{1, 1, 1, 1}));
}

TEST(TorchFixtures, FashionCheckpointResumesIntoAdam) {
  const Json keys = read_manifest(kData211)["files"]["fashion_checkpoint.pt"]["keys"];
  const io::ValuePtr ck = io::load(kData211 + "fashion_checkpoint.pt");
  std::vector<std::string> want;
  for (const auto& k : keys.arr) want.push_back(k.str);
  EXPECT_EQ(ck->keys(), want);
  EXPECT_EQ(ck->at("epoch")->as_int(), 4);
  EXPECT_DOUBLE_EQ(ck->at("valid_loss_min")->as_number(), 3.952759288949892e-05);

  nn::FashionClassifier model(0.0);
  const nn::StateDict sd = nn::state_dict_from_value(ck->at("state_dict"));
  const Json init_keys = read_manifest(kData211)["files"]["fashion_init_state_dict.pt"]["keys"];
  ASSERT_EQ(sd.size(), init_keys.arr.size());
  for (size_t i = 0; i < sd.size(); ++i) EXPECT_EQ(sd.keys()[i], init_keys.arr[i].str);
  EXPECT_TRUE(model.load_state_dict(sd).ok());
  optim::Adam opt(model.parameters());
  ASSERT_NO_THROW(opt.load_state_dict(ck->at("optimizer")));
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options.lr, 1e-3);
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options.beta2, 0.999);
  const io::ValuePtr state = ck->at("optimizer")->at("state");
  for (int64_t i = 0; i < 10; ++i) {
    io::ValuePtr st = state_entry(state, i);
    ASSERT_TRUE(st) << i;
    EXPECT_EQ(opt.state(i).step, st->at("step")->tensor.item());
    EXPECT_TRUE(equal(opt.state(i).exp_avg, st->at("exp_avg")->tensor)) << i;
    EXPECT_TRUE(equal(opt.state(i).exp_avg_sq, st->at("exp_avg_sq")->tensor)) << i;
  }
  EXPECT_EQ(opt.state(0).step, 20);
  // What we would save again is what torch saved.
  const io::ValuePtr again = opt.state_dict();
  EXPECT_EQ(state_entry(again->at("state"), 3)->at("step")->tensor.item(), 20);
}

TEST(TorchFixtures, CudaCheckpointNeedsMapLocation) {
  const std::string path = kData211 + "fashion_checkpoint_cuda.pt";
  io::LoadOptions cpu;
  cpu.map_location = io::MapLocation::parse("cpu");
  const io::Checkpoint ck = io::load_checkpoint(path, cpu);
  ASSERT_FALSE(ck.storages.empty());
  // The 10 weights and 20 Adam moments were on cuda:0; Adam keeps its 10
  // 'step' tensors on the CPU.
  int on_cuda = 0, on_cpu = 0;
  for (const auto& s : ck.storages) {
    EXPECT_TRUE(s.location == "cuda:0" || s.location == "cpu") << s.location;
    (s.location == "cuda:0" ? on_cuda : on_cpu)++;
    EXPECT_TRUE(s.device.is_cpu()) << s.key;
  }
  EXPECT_EQ(on_cuda, 30);
  EXPECT_EQ(on_cpu, 10);
  EXPECT_EQ(read_manifest(kData211)["files"]["fashion_checkpoint_cuda.pt"]["device"].str, "cuda:0");
  const double vlm = ck.root->at("valid_loss_min")->as_number();
  EXPECT_TRUE(std::isinf(vlm) && vlm > 0);
  EXPECT_EQ(ck.root->at("epoch")->as_int(), 1);
  const nn::StateDict sd = nn::state_dict_from_value(ck.root->at("state_dict"));
  for (const auto& [k, t] : sd) EXPECT_TRUE(t.device().is_cpu()) << k;
  nn::FashionClassifier model(0.0);
  EXPECT_TRUE(model.load_state_dict(sd).ok());
  optim::Adam opt(model.parameters());
  EXPECT_NO_THROW(opt.load_state_dict(ck.root->at("optimizer")));
  EXPECT_EQ(opt.state(0).step, 3);
  // Remapping by name works too.
  io::LoadOptions remap;
  remap.map_location = io::MapLocation::parse("cuda:0=cpu");
  EXPECT_NO_THROW(io::load_checkpoint(path, remap));
  if (!cuda_built()) {
    try {
      io::load_checkpoint(path);
      ADD_FAILURE() << "a cuda checkpoint loaded without map_location on a CPU-only build";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("map_location"), std::string::npos) << msg;
      EXPECT_NE(msg.find("cuda:0"), std::string::npos) << msg;
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
    }
  }
}

TEST(TorchFixtures, LegacyStateDictEqualsZipCheckpoint) {
  const io::Checkpoint legacy = io::load_checkpoint(kData211 + "legacy_state_dict.pt");
  EXPECT_EQ(legacy.format, "legacy");
  const nn::StateDict a = nn::state_dict_from_value(legacy.root);
  EXPECT_EQ(legacy.root->cls, "collections.OrderedDict");
  // The same weights as fashion_checkpoint.pt's state_dict (and the
  // trajectory's final weights), per torch.equal in PyTorch.
  const nn::StateDict b = nn::state_dict_from_value(io::load(kData211 + "fashion_checkpoint.pt")->at("state_dict"));
  const nn::StateDict c =
      nn::state_dict_from_value(io::load(kData211 + "fashion_adam_trajectory.pt")->at("final_state_dict"));
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& [k, t] : a) {
    EXPECT_TRUE(equal(t, b.at(k))) << k;
    EXPECT_TRUE(equal(t, c.at(k))) << k;
  }
  EXPECT_EQ(a.at("fc1.weight").sizes(), (Shape{512, 784}));
  EXPECT_EQ(a.at("fc5.bias").sizes(), (Shape{10}));
}

TEST(TorchFixtures, Protocol4) {
  const io::ValuePtr r = io::load(kData211 + "protocol4.pt");
  EXPECT_EQ(r->keys(), (std::vector<std::string>{"w", "step"}));
  EXPECT_EQ(r->at("w")->tensor.sizes(), (Shape{2, 3}));
  EXPECT_EQ(r->at("w")->tensor.to_vector(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(r->at("step")->as_int(), 3);
}

TEST(TorchFixtures, SequentialStateDictKeys) {
  const Json keys = read_manifest(kData211)["files"]["sequential_state_dict.pt"]["keys"];
  const nn::StateDict sd = nn::state_dict_from_value(io::load(kData211 + "sequential_state_dict.pt"));
  ASSERT_EQ(sd.size(), keys.arr.size());
  for (size_t i = 0; i < sd.size(); ++i) EXPECT_EQ(sd.keys()[i], keys.arr[i].str);
  EXPECT_EQ(sd.at("layer1.0.weight").sizes(), (Shape{16, 8}));
  EXPECT_EQ(sd.at("layer1.0.bias").sizes(), (Shape{16}));
  EXPECT_EQ(sd.at("fc.weight").sizes(), (Shape{3, 16}));
  EXPECT_EQ(sd.at("fc.bias").sizes(), (Shape{3}));
}

TEST(TorchFixtures, WholeModuleTree) {
  const Json rg = read_manifest(kData211)["files"]["whole_module.pt"]["requires_grad"];
  const io::ValuePtr root = io::load(kData211 + "whole_module.pt");
  const io::ModuleNode net = io::module_tree(root);
  EXPECT_EQ(net.class_name, "__main__.Net");
  EXPECT_TRUE(net.training);
  EXPECT_TRUE(net.parameters.empty());
  ASSERT_EQ(net.children.size(), 2u);
  const io::ModuleNode& layer1 = net.children[0];
  EXPECT_EQ(layer1.name, "layer1");
  EXPECT_EQ(layer1.class_name, "torch.nn.modules.container.Sequential");
  ASSERT_EQ(layer1.children.size(), 3u);
  EXPECT_EQ(layer1.children[0].class_name, "torch.nn.modules.linear.Linear");
  EXPECT_EQ(layer1.children[1].class_name, "torch.nn.modules.activation.ReLU");
  EXPECT_EQ(layer1.children[2].class_name, "torch.nn.modules.dropout.Dropout");
  EXPECT_EQ(layer1.children[2].name, "2");
  EXPECT_EQ(net.children[1].name, "fc");
  EXPECT_EQ(net.children[1].class_name, "torch.nn.modules.linear.Linear");
  for (const auto* m : {&net, &layer1, &layer1.children[0], &layer1.children[1], &layer1.children[2], &net.children[1]})
    EXPECT_TRUE(m->training) << m->class_name;
  const auto params = io::named_parameters(net);
  ASSERT_EQ(params.size(), rg.obj.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].name, rg.obj[i].first);
    EXPECT_EQ(params[i].requires_grad, rg.obj[i].second.b) << params[i].name;
  }
  EXPECT_EQ(params[0].tensor.sizes(), (Shape{16, 8}));
  EXPECT_EQ(params[3].tensor.sizes(), (Shape{3}));
  // module_state is the state_dict torch would give: PyTorch confirmed these
  // are the weights in sequential_state_dict.pt.
  const auto state = io::module_state(net);
  const nn::StateDict sd = nn::state_dict_from_value(io::load(kData211 + "sequential_state_dict.pt"));
  ASSERT_EQ(state.size(), sd.size());
  for (size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(state[i].first, sd.keys()[i]);
    EXPECT_TRUE(equal(state[i].second, sd.at(state[i].first))) << state[i].first;
    EXPECT_FALSE(state[i].second.requires_grad());
  }
  // Plain attributes are not modules.
  EXPECT_THROW(io::module_tree(root->state->get("_modules")), std::invalid_argument);
  EXPECT_THROW(io::module_tree(io::load(kData211 + "nested.pt")), std::invalid_argument);
  EXPECT_THROW(io::module_tree(nullptr), std::invalid_argument);
}

TEST(TorchFixtures, AdamAmsgrad) {
  const io::ValuePtr r = io::load(kData211 + "adam_amsgrad.pt");
  EXPECT_TRUE(read_manifest(kData211)["files"]["adam_amsgrad.pt"]["amsgrad"].b);
  const io::ValuePtr p = r->at("param");
  EXPECT_EQ(p->cls, io::kParameterClass);
  EXPECT_TRUE(p->tensor.requires_grad());
  const io::ValuePtr st0 = state_entry(r->at("optimizer")->at("state"), 0);
  ASSERT_TRUE(st0);
  ASSERT_TRUE(st0->get("max_exp_avg_sq"));
  EXPECT_EQ(st0->at("step")->tensor.item(), 2);
  Tensor param = p->tensor.detach().clone();
  param.set_requires_grad(true);
  optim::AdamOptions o;
  o.amsgrad = true;
  optim::Adam opt({param}, o);
  ASSERT_NO_THROW(opt.load_state_dict(r->at("optimizer")));
  const optim::AdamOptions& got = opt.param_groups()[0].options;
  EXPECT_TRUE(got.amsgrad);
  EXPECT_DOUBLE_EQ(got.lr, 0.01);
  EXPECT_DOUBLE_EQ(got.beta1, 0.8);
  EXPECT_DOUBLE_EQ(got.beta2, 0.99);
  EXPECT_DOUBLE_EQ(got.eps, 1e-6);
  EXPECT_DOUBLE_EQ(got.weight_decay, 0.01);
  EXPECT_EQ(opt.state(0).step, 2);
  ASSERT_TRUE(opt.state(0).max_exp_avg_sq.defined());
  EXPECT_TRUE(equal(opt.state(0).max_exp_avg_sq, st0->at("max_exp_avg_sq")->tensor));
  EXPECT_TRUE(equal(opt.state(0).exp_avg, st0->at("exp_avg")->tensor));
}

TEST(TorchFixtures, NumpyValuesFromTorch113) {
  const Json want = read_manifest(kData113)["files"]["numpy_values.pt"]["values"];
  const io::ValuePtr r = io::load(kData113 + "numpy_values.pt");
  EXPECT_EQ(r->at("epoch")->as_int(), static_cast<int64_t>(want["epoch"].num));
  EXPECT_EQ(r->at("valid_loss_min")->kind, io::Value::Kind::Float);
  EXPECT_EQ(r->at("valid_loss_min")->as_number(), want["valid_loss_min"].num);
  EXPECT_EQ(r->at("valid_loss_min")->as_number(), 0.0421);
  EXPECT_EQ(r->at("acc")->as_number(), want["acc"].num);
  const io::ValuePtr hist = r->at("history");
  ASSERT_TRUE(hist->is_tensor());
  EXPECT_EQ(hist->cls, io::kNdarrayClass);
  EXPECT_EQ(hist->tensor.dtype(), DType::Float64);
  expect_tensor(hist->tensor, want["history"], "history");
  const nn::StateDict sd = nn::state_dict_from_value(r->at("state_dict"));
  std::vector<std::string> keys;
  for (const auto& [k, v] : want["state_dict"].obj) {
    keys.push_back(k);
    expect_tensor(sd.at(k), v, k);
  }
  EXPECT_EQ(sd.keys(), keys);
  bool stripped = false;
  const nn::StateDict plain = nn::strip_prefix(sd, "module.", &stripped);
  EXPECT_TRUE(stripped);
  EXPECT_EQ(plain.keys(), (std::vector<std::string>{"fc1.weight", "fc1.bias"}));
  EXPECT_TRUE(equal(plain.at("fc1.bias"), sd.at("module.fc1.bias")));
}

TEST(TorchFixtures, SafeModeLoadsAllButWholeModule) {
  io::LoadOptions safe;
  safe.safe = true;
  safe.map_location = io::MapLocation::parse("cpu");
  for (const auto& f : all_fixtures()) {
    SCOPED_TRACE(f);
    if (f.find("whole_module") != std::string::npos) {
      try {
        io::load_checkpoint(f, safe);
        ADD_FAILURE() << "safe mode loaded a pickled __main__ class";
      } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("__main__.Net"), std::string::npos) << e.what();
      }
    } else {
      EXPECT_NO_THROW(io::load_checkpoint(f, safe));
    }
  }
}

// Dtypes without a typed storage class (float8, uint16...) are written the way
// torch writes them — torch.storage.UntypedStorage + _rebuild_tensor_v3 — which
// the weights_only allowlist (torch's and ours) accepts; `torch.UntypedStorage`
// would be refused.
TEST(TorchFixtures, UntypedStoragesSaveAsTorchDoes) {
  auto root = torchless::io::Value::dict();
  torchless::Tensor f8 = torchless::from_vector(std::vector<double>{1.0, -2.0, 0.5}, {3}, torchless::DType::Float8_e4m3fn);
  root->set("f8", torchless::io::Value::from_tensor(f8));
  const std::string bytes = torchless::io::save_to_bytes(root);
  EXPECT_NE(bytes.find("torch.storage\nUntypedStorage"), std::string::npos);
  torchless::io::LoadOptions safe;
  safe.safe = true;
  const torchless::io::Checkpoint ck = torchless::io::load_checkpoint_bytes(bytes, "f8.pt", safe);
  EXPECT_EQ(ck.root->at("f8")->tensor.to_vector(), (std::vector<double>{1.0, -2.0, 0.5}));
}
