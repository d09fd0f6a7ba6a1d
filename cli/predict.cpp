// torchless predict: classify 28x28 grayscale images with a saved classifier.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "cli/pgm.h"
#include "core/autograd.h"
#include "io/checked_file.h"
#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "cli/model_choice.h"

namespace torchless::cli {

namespace {

struct Item {
  std::string name;
  std::vector<float> x;  // 784 normalised pixels
};

float normalise(unsigned p, unsigned maxval) {
  // (p/255 - 0.5)/0.5 in float, as training does; other maxvals rescale first.
  const float v = maxval == 255 ? static_cast<float>(p) / 255.0f : static_cast<float>(p) / static_cast<float>(maxval);
  return (v - 0.5f) / 0.5f;
}

void read_images(const std::string& path, int64_t limit, std::vector<Item>& out) {
  const std::string bytes = io::read_file(path);
  if (looks_like_pgm(bytes)) {
    // The size comes from the header: check it before the pixels are allocated.
    const PgmHeader h = parse_pgm_header(bytes, path);
    if (h.width != 28 || h.height != 28)
      throw std::runtime_error(path + ": image is " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                               ", the classifier needs 28x28");
    const GrayImage img = parse_pgm(bytes, path);
    Item it{path, {}};
    it.x.reserve(784);
    for (uint8_t p : img.pixels) it.x.push_back(normalise(p, static_cast<unsigned>(img.maxval)));
    out.push_back(std::move(it));
    return;
  }
  io::IdxArray a;
  try {
    a = io::parse_idx(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": neither a PGM (P2/P5) nor an idx file (" + e.what() + ")");
  }
  if (a.type != io::kIdxUByte) throw std::runtime_error(path + ": idx file of non-ubyte elements; need ubyte images");
  int64_t n = 0;
  if (a.dims.size() == 3 && a.dims[1] == 28 && a.dims[2] == 28) n = a.dims[0];
  else if (a.dims.size() == 2 && a.dims[0] == 28 && a.dims[1] == 28) n = 1;
  else if (a.dims.size() == 2 && a.dims[1] == 784) n = a.dims[0];
  else {
    std::string d;
    for (int64_t x : a.dims) d += (d.empty() ? "" : "x") + std::to_string(x);
    throw std::runtime_error(path + ": idx images are " + d + ", the classifier needs 28x28");
  }
  if (limit >= 0) n = std::min(n, limit);
  for (int64_t i = 0; i < n; ++i) {
    Item it{path + "[" + std::to_string(i) + "]", {}};
    it.x.reserve(784);
    for (int64_t k = 0; k < 784; ++k) it.x.push_back(normalise(a.data[static_cast<size_t>(i * 784 + k)], 255));
    out.push_back(std::move(it));
  }
}

int run_predict(const std::vector<std::string>& argv) {
  Args args(argv, {"--top", "--limit", "--model"}, {"--json"});
  const auto& pos = args.positional();
  if (pos.empty()) throw UsageError("missing FILE");
  if (pos.size() < 2) throw UsageError("missing IMAGES");
  const int64_t top = args.integer("--top", 3, 1, 10);
  const int64_t limit = args.integer("--limit", -1, 0, INT64_MAX);
  const bool as_json = args.has("--json");

  std::optional<std::string> spec;
  if (auto m = args.opt("--model")) spec = read_model_flag(*m);
  const std::shared_ptr<nn::Module> model = load_model_file(pos[0], spec);

  std::vector<Item> items;
  for (size_t i = 1; i < pos.size(); ++i) read_images(pos[i], limit, items);
  if (items.empty()) throw std::runtime_error("no images to classify");

  const int64_t B = static_cast<int64_t>(items.size());
  std::vector<float> flat;
  flat.reserve(static_cast<size_t>(B) * 784);
  for (const auto& it : items) flat.insert(flat.end(), it.x.begin(), it.x.end());
  Tensor logits;
  {
    NoGradGuard ng;
    logits = model->forward(images_for(*model, from_vector(flat, {B, 784})));
  }
  if (logits.dim() != 2 || logits.size(1) != 10)
    throw std::runtime_error(pos[0] + ": the model gives " + shape_str(logits.sizes()) +
                             " for a batch of images, not scores for Fashion-MNIST's 10 classes [N, 10]");
  const std::vector<double> L = logits.to(DType::Float64).contiguous().to_vector();
  const int64_t C = logits.size(1);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> p(L.begin() + b * C, L.begin() + (b + 1) * C);
    const double mx = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double& v : p) sum += (v = std::exp(v - mx));
    for (double& v : p) v /= sum;
    std::vector<int> order(static_cast<size_t>(C));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return p[x] > p[y]; });
    const int best = order[0];
    if (as_json) {
      std::string js = "{\"image\":" + json_str(items[b].name) + ",\"class\":" + std::to_string(best) +
                       ",\"name\":" + json_str(io::fashion_class_name(best)) + ",\"probability\":" + json_num(p[best]) +
                       ",\"top\":[";
      for (int64_t k = 0; k < std::min(top, C); ++k)
        js += (k ? "," : "") + std::string("{\"class\":") + std::to_string(order[k]) + ",\"name\":" +
              json_str(io::fashion_class_name(order[k])) + ",\"probability\":" + json_num(p[order[k]]) + "}";
      js += "]}\n";
      std::fputs(js.c_str(), stdout);
    } else {
      std::printf("%s: %s (class %d) %.4f", items[b].name.c_str(), io::fashion_class_name(best), best, p[best]);
      if (top > 1) {
        std::printf("  top-%lld:", static_cast<long long>(top));
        for (int64_t k = 0; k < std::min(top, C); ++k)
          std::printf("%s %s %.4f", k ? "," : "", io::fashion_class_name(order[k]), p[order[k]]);
      }
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace

extern const Command kPredictCommand = {
    "predict", "classify 28x28 grayscale images (PGM or idx) with a saved classifier",
    "usage: torchless predict FILE IMAGES... [--model SPEC] [--top K] [--limit N] [--json]\n"
    "  FILE is a checkpoint (with 'state_dict') or a bare state_dict of the FashionClassifier,\n"
    "  of the --model SPEC architecture or of the spec its hparams recorded; or a whole model\n"
    "  (torch.save(model) of torch's own layers, or torchless export).\n"
    "  IMAGES are 28x28 grayscale PGM files (P2 or P5, maxval <= 255) or idx files (every\n"
    "  image in the file, e.g. t10k-images-idx3-ubyte.gz). Pixels are prepared as in\n"
    "  training, (p/255 - 0.5)/0.5; the model runs in eval mode. Prints, per image, the\n"
    "  predicted class, its softmax probability and the top K classes.\n"
    "  --model SPEC the architecture (see torchless train --help), or @FILE\n"
    "  --top K    classes to list per image (default 3)\n"
    "  --limit N  at most N images from each idx file\n"
    "  --json     one JSON object per image instead\n",
    run_predict};

}  // namespace torchless::cli
