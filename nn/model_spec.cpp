#include "nn/model_spec.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include "nn/layer_factory.h"

namespace torchless::nn {
namespace {

constexpr int kMaxNesting = 64;  // brackets and tuples; deeper is not a model

class Parser {
 public:
  Parser(const std::string& text, Generator* gen) : t_(text), gen_(gen) {}

  std::shared_ptr<Sequential> parse() {
    auto model = sequence(0);
    skip_space();
    if (pos_ < t_.size()) fail(t_[pos_] == ']' ? "']' without a matching '['" : "unexpected '" + std::string(1, t_[pos_]) + "'");
    if (model->size() == 0) fail("no layers");
    return model;
  }

 private:
  const std::string& t_;
  Generator* gen_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what, size_t at = std::string::npos) const {
    const size_t p = at == std::string::npos ? pos_ : at;
    throw std::invalid_argument("model spec: column " + std::to_string(p + 1) + ": " + what);
  }

  void skip_space() {
    while (pos_ < t_.size()) {
      if (std::isspace(static_cast<unsigned char>(t_[pos_]))) {
        ++pos_;
      } else if (t_[pos_] == '#') {
        while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }
  bool peek(char c) {
    skip_space();
    return pos_ < t_.size() && t_[pos_] == c;
  }
  void expect(char c, const std::string& where) {
    if (!peek(c)) fail("expected '" + std::string(1, c) + "' " + where + (pos_ < t_.size() ? ", got '" + std::string(1, t_[pos_]) + "'" : ", got the end"));
    ++pos_;
  }
  static bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
  static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  std::string identifier() {
    skip_space();
    const size_t start = pos_;
    if (pos_ >= t_.size() || !ident_start(t_[pos_])) return "";
    while (pos_ < t_.size() && ident_char(t_[pos_])) ++pos_;
    return t_.substr(start, pos_ - start);
  }

  // Layers up to the end or a ']'.
  std::shared_ptr<Sequential> sequence(int depth) {
    if (depth > kMaxNesting) fail("brackets nested too deeply");
    auto seq = std::make_shared<Sequential>();
    while (true) {
      skip_space();
      if (pos_ >= t_.size() || t_[pos_] == ']') return seq;
      const size_t start = pos_;
      std::string name;
      // "name:" before a layer or a bracket.
      if (ident_start(t_[pos_]) || std::isdigit(static_cast<unsigned char>(t_[pos_]))) {
        size_t p = pos_;
        while (p < t_.size() && ident_char(t_[p])) ++p;
        if (p < t_.size() && t_[p] == ':') {
          name = t_.substr(pos_, p - pos_);
          pos_ = p + 1;
          skip_space();
        }
      }
      std::shared_ptr<Module> layer;
      if (peek('[')) {
        ++pos_;
        auto inner = sequence(depth + 1);
        expect(']', "to close the '[' at column " + std::to_string(start + 1));
        if (inner->size() == 0) fail("an empty [ ]", start);
        layer = inner;
      } else {
        layer = one_layer(depth);
      }
      try {
        if (name.empty()) seq->push_back(layer);
        else seq->push_back(name, layer);
      } catch (const std::invalid_argument& e) {
        std::string what = e.what();
        if (what.rfind("Sequential: ", 0) == 0) what.erase(0, 12);
        fail(what, start);
      }
    }
  }

  std::shared_ptr<Module> one_layer(int depth) {
    const size_t start = pos_;
    const std::string type = identifier();
    if (type.empty()) fail("expected a layer name, got '" + std::string(1, t_[pos_]) + "'");
    LayerArgs args;
    if (pos_ < t_.size() && t_[pos_] == '(') {
      const size_t open = pos_++;
      if (!peek(')')) {
        while (true) {
          skip_space();
          size_t p = pos_;
          std::string kw;
          if (p < t_.size() && ident_start(t_[p])) {
            while (p < t_.size() && ident_char(t_[p])) ++p;
            size_t q = p;
            while (q < t_.size() && t_[q] == ' ') ++q;
            if (q < t_.size() && t_[q] == '=') {
              kw = t_.substr(pos_, p - pos_);
              pos_ = q + 1;
            }
          }
          LayerArg v = value(depth + 1);
          if (kw.empty()) {
            if (!args.keyword.empty()) fail("positional argument after a keyword argument in " + type);
            args.positional.push_back(std::move(v));
          } else {
            args.keyword.emplace_back(kw, std::move(v));
          }
          if (peek(',')) {
            ++pos_;
            if (peek(')')) break;  // trailing comma, as Python allows
            continue;
          }
          break;
        }
      }
      expect(')', "to close " + type + "'s '(' at column " + std::to_string(open + 1));
    } else if (pos_ < t_.size() && !std::isspace(static_cast<unsigned char>(t_[pos_])) && t_[pos_] != ']' &&
               t_[pos_] != '#') {
      fail("unexpected '" + std::string(1, t_[pos_]) + "' after " + type);
    }
    try {
      return make_layer(type, args, gen_);
    } catch (const std::invalid_argument& e) {
      fail(e.what(), start);
    }
  }

  LayerArg value(int depth) {
    if (depth > kMaxNesting) fail("tuples nested too deeply");
    skip_space();
    if (pos_ >= t_.size()) fail("expected a value, got the end");
    const char c = t_[pos_];
    if (c == '(') {
      ++pos_;
      std::vector<LayerArg> items;
      if (!peek(')')) {
        while (true) {
          items.push_back(value(depth + 1));
          if (peek(',')) {
            ++pos_;
            if (peek(')')) break;
            continue;
          }
          break;
        }
      }
      expect(')', "to close a tuple");
      return LayerArg::tuple(std::move(items));
    }
    if (c == '\'' || c == '"') {
      const size_t end = t_.find(c, pos_ + 1);
      if (end == std::string::npos) fail("unterminated string");
      std::string s = t_.substr(pos_ + 1, end - pos_ - 1);
      pos_ = end + 1;
      return LayerArg::str(std::move(s));
    }
    if (ident_start(c)) {
      const size_t start = pos_;
      const std::string w = identifier();
      if (w == "True") return LayerArg::boolean(true);
      if (w == "False") return LayerArg::boolean(false);
      if (w == "None") return LayerArg::none();
      fail("expected a value (a number, True, False, None, a quoted string or a tuple), got '" + w + "'", start);
    }
    // A number: the longest prefix strtod / strtoll accept.
    const char* begin = t_.c_str() + pos_;
    char* end = nullptr;
    const double d = std::strtod(begin, &end);
    if (end == begin) fail("expected a value, got '" + std::string(1, c) + "'");
    const std::string text(begin, static_cast<size_t>(end - begin));
    if (text.find_first_of("xXpP") != std::string::npos) fail("expected a decimal number, got '" + text + "'");
    pos_ += text.size();
    if (text.find_first_of(".eEnN") == std::string::npos) {
      errno = 0;
      const long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) fail("integer " + text + " out of range");
      return LayerArg::integer(v);
    }
    return LayerArg::real(d);
  }
};

std::string spec_of(const Module& m, bool top) {
  if (const auto* seq = dynamic_cast<const Sequential*>(&m)) {
    std::string out;
    size_t index = 0;
    for (const auto& [name, child] : seq->named_children()) {
      if (!out.empty()) out += ' ';
      if (name != std::to_string(index)) out += name + ":";
      out += spec_of(*child, false);
      ++index;
    }
    return top ? out : "[" + out + "]";
  }
  return layer_spec(m);
}

}  // namespace

std::shared_ptr<Sequential> parse_model_spec(const std::string& spec, Generator* gen) {
  return Parser(spec, gen).parse();
}

std::string model_spec(const Module& model) { return spec_of(model, true); }

bool takes_image_planes(const Module& model) {
  const Module* m = &model;
  while (const auto* seq = dynamic_cast<const Sequential*>(m)) {
    if (seq->size() == 0) return false;
    m = &(*seq)[0];
  }
  const std::string t = m->type_name();
  return t == "Conv2d" || t == "MaxPool2d" || t == "AvgPool2d" || t == "AdaptiveAvgPool2d" || t == "BatchNorm2d";
}

}  // namespace torchless::nn
