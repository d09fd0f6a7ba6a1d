// Classify one Fashion-MNIST image with a model trained in PyTorch.
//
//   # in Python, after training the tutorial's FashionClassifier:
//   torch.save(model.state_dict(), 'fashion.pt')
//
//   ./embed fashion.pt shoe.pgm                      # a 28x28 PGM (P5 or P2)
//   ./embed fashion.pt t10k-images-idx3-ubyte.gz 42  # image #42 of an idx file
//
// MODEL may also be a whole checkpoint dict with a 'state_dict' entry (what
// `torchless train` and the tutorial's checkpoints write), and the keys may
// carry the 'module.' prefix of a DataParallel-wrapped model.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/autograd.h"           // NoGradGuard
#include "io/fashion_mnist.h"        // fashion_class_name
#include "io/idx.h"                  // read_idx
#include "io/torch_load.h"           // io::load: torch.load without Python
#include "nn/fashion_classifier.h"   // fc1..fc5 with PyTorch's key names
#include "nn/state_dict.h"

using namespace torchless;

namespace {

// Loads the weights from a bare state_dict or from a checkpoint's 'state_dict'.
void load_weights(nn::FashionClassifier& model, const std::string& path) {
  io::LoadOptions opts;
  opts.safe = true;  // like torch.load(weights_only=True): tensors and containers only
  opts.map_location = io::MapLocation::parse("cpu");
  io::ValuePtr root = io::load(path, opts);

  // {'epoch': ..., 'state_dict': {...}, 'optimizer': {...}}  ->  its state_dict
  if (root && root->is_dict() && root->get("state_dict")) root = root->at("state_dict");

  bool stripped = false;
  const nn::StateDict sd = nn::strip_prefix(nn::state_dict_from_value(root, path), "module.", &stripped);
  if (stripped) std::fprintf(stderr, "note: %s: stripped the 'module.' prefix from every key\n", path.c_str());

  // strict=true: every key must match (throws, naming missing/unexpected keys).
  model.load_state_dict(sd, /*strict=*/true);
}

// Pixels -> the tutorial's normalisation: ToTensor() (p / maxval) then Normalize((0.5,), (0.5,)).
std::vector<float> normalise(const std::vector<uint8_t>& pixels, int maxval) {
  std::vector<float> x;
  x.reserve(pixels.size());
  for (uint8_t p : pixels) x.push_back((static_cast<float>(p) / static_cast<float>(maxval) - 0.5f) / 0.5f);
  return x;
}

// A 28x28 PGM: "P5" (binary) or "P2" (ascii), '#' comments, maxval <= 255.
std::vector<float> read_pgm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  auto token = [&] {  // next header token, skipping whitespace and comments
    std::string t;
    for (int c; (c = in.get()) != EOF;) {
      if (c == '#' && t.empty()) {
        std::string comment;
        std::getline(in, comment);
      } else if (std::isspace(c)) {
        if (!t.empty()) break;
      } else {
        t.push_back(static_cast<char>(c));
      }
    }
    return t;
  };
  const std::string magic = token();
  if (magic != "P5" && magic != "P2") throw std::runtime_error(path + ": not a PGM file (P5 or P2)");
  const int width = std::atoi(token().c_str()), height = std::atoi(token().c_str());
  const int maxval = std::atoi(token().c_str());
  if (width != 28 || height != 28)
    throw std::runtime_error(path + ": the image is " + std::to_string(width) + "x" + std::to_string(height) +
                             ", the classifier needs 28x28");
  if (maxval < 1 || maxval > 255) throw std::runtime_error(path + ": maxval must be 1..255");
  std::vector<uint8_t> pixels(28 * 28);
  if (magic == "P5") {  // the single whitespace after maxval was consumed by token()
    if (!in.read(reinterpret_cast<char*>(pixels.data()), static_cast<std::streamsize>(pixels.size())))
      throw std::runtime_error(path + ": truncated pixel data");
  } else {
    for (auto& p : pixels) {
      const std::string t = token();
      if (t.empty()) throw std::runtime_error(path + ": truncated pixel data");
      p = static_cast<uint8_t>(std::min(std::atoi(t.c_str()), maxval));
    }
  }
  return normalise(pixels, maxval);
}

// Image `index` of an idx file of 28x28 ubyte images (e.g. t10k-images-idx3-ubyte.gz).
std::vector<float> read_idx_image(const std::string& path, long index) {
  const io::IdxArray a = io::read_idx(path);  // gzip or plain
  if (a.type != io::kIdxUByte || a.dims.size() != 3 || a.dims[1] != 28 || a.dims[2] != 28)
    throw std::runtime_error(path + ": not an idx file of 28x28 ubyte images");
  if (index < 0 || index >= a.dims[0])
    throw std::runtime_error(path + ": index " + std::to_string(index) + " outside 0.." + std::to_string(a.dims[0] - 1));
  const auto first = a.data.begin() + index * 28 * 28;
  return normalise(std::vector<uint8_t>(first, first + 28 * 28), 255);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr,
                 "usage: %s MODEL.pt IMAGE.pgm\n"
                 "       %s MODEL.pt IMAGES.idx[.gz] INDEX\n",
                 argv[0], argv[0]);
    return 2;
  }
  try {
    // 1. The model, with the PyTorch-trained weights, in eval mode (dropout off).
    nn::FashionClassifier model;
    load_weights(model, argv[1]);
    model.eval();

    // 2. One image as a [1, 784] float tensor.
    const std::vector<float> pixels = argc == 4 ? read_idx_image(argv[2], std::atol(argv[3])) : read_pgm(argv[2]);
    const Tensor x = from_vector(pixels, {1, 784});

    // 3. Forward without building an autograd graph; the model returns logits.
    Tensor logits;
    {
      NoGradGuard no_grad;
      logits = model.forward(x);
    }

    // 4. Softmax over the 10 classes, then the most likely one.
    std::vector<double> p = logits.to(DType::Float64).contiguous().to_vector();
    const double mx = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double& v : p) sum += (v = std::exp(v - mx));
    for (double& v : p) v /= sum;
    const int best = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
    std::printf("%s (class %d), probability %.4f\n", io::fashion_class_name(best), best, p[best]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
