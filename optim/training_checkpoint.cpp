#include "optim/training_checkpoint.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "nn/state_dict.h"

namespace torchless::optim {
namespace {

using io::Value;
using io::ValuePtr;

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument("checkpoint: " + what); }

ValuePtr str_list(const std::vector<std::string>& items) {
  auto l = Value::list();
  for (const auto& s : items) l->items.push_back(Value::str(s));
  return l;
}

// Absent and None both mean "not saved".
ValuePtr entry(const ValuePtr& d, const char* key) {
  ValuePtr v = d->get(key);
  return v && !v->is_none() ? v : nullptr;
}

// `read(v)` of the entry, its errors naming the entry ("hparams 'lr': expected
// a number, got str") instead of only what was wrong with some value.
template <class F>
auto read_entry(const std::string& where, const ValuePtr& v, F&& read) -> decltype(read(v)) {
  try {
    return read(v);
  } catch (const std::exception& e) {
    bad(where + ": " + e.what());
  }
}

double as_number(const ValuePtr& v) { return v->is_tensor() ? v->tensor.item() : v->as_number(); }

double number_or(const ValuePtr& d, const char* key, double def, const std::string& where) {
  ValuePtr v = entry(d, key);
  return v ? read_entry(where + "'" + key + "'", v, as_number) : def;
}

}  // namespace

io::ValuePtr make_training_checkpoint(const TrainingState& st, const nn::Module& model, const Adam& opt) {
  auto ck = Value::dict();
  ck->set("epoch", Value::integer(st.epoch));
  ck->set("valid_loss_min", Value::floating(st.valid_loss_min));
  ck->set("state_dict", nn::to_value(model.state_dict()));
  ck->set("optimizer", opt.state_dict());
  if (st.rng_state) {
    Tensor rng = from_blob(st.rng_state->data(), {static_cast<int64_t>(st.rng_state->size())}, DType::UInt8);
    ck->set("rng_state", Value::from_tensor(rng));
  }
  auto hp = Value::dict();
  hp->set("model", Value::str(model.type_name()));
  hp->set("lr", Value::floating(st.hparams.lr));
  hp->set("batch_size", Value::integer(st.hparams.batch_size));
  hp->set("dropout", Value::floating(st.hparams.dropout));
  hp->set("seed", Value::integer(st.hparams.seed));
  hp->set("validation", Value::str(st.hparams.validation));
  hp->set("frozen", str_list(st.hparams.frozen));
  if (!st.hparams.model_spec.empty()) hp->set("model_spec", Value::str(st.hparams.model_spec));
  ck->set("hparams", hp);
  ck->set("train_loss", Value::floating(st.train_loss));
  ck->set("valid_loss", Value::floating(st.valid_loss));
  ck->set("valid_accuracy", Value::floating(st.valid_accuracy));
  return ck;
}

HyperParams read_hparams(const io::ValuePtr& ck, HyperParams hp) {
  // Not torchless's 'hparams' (a Python script's own object): nothing to read.
  ValuePtr h = ck && ck->is_dict() ? entry(ck, "hparams") : nullptr;
  if (!h || !h->is_dict()) return hp;
  const std::string where = "hparams ";
  hp.lr = number_or(h, "lr", hp.lr, where);
  hp.dropout = number_or(h, "dropout", hp.dropout, where);
  const auto as_int = [](const ValuePtr& v) { return v->as_int(); };
  if (ValuePtr b = entry(h, "batch_size")) hp.batch_size = read_entry(where + "'batch_size'", b, as_int);
  if (ValuePtr s = entry(h, "seed")) hp.seed = read_entry(where + "'seed'", s, as_int);
  if (ValuePtr v = entry(h, "validation"))
    hp.validation = read_entry(where + "'validation'", v, [](const ValuePtr& x) { return x->as_str(); });
  if (ValuePtr m = entry(h, "model_spec"))
    hp.model_spec = read_entry(where + "'model_spec'", m, [](const ValuePtr& x) { return x->as_str(); });
  if (ValuePtr f = entry(h, "frozen")) {
    // A silently ignored list would train what the saved run kept frozen.
    if (f->kind != Value::Kind::List && f->kind != Value::Kind::Tuple)
      bad(where + "'frozen' is a " + f->kind_name() + ", expected a list of module names");
    hp.frozen.clear();
    for (const auto& m : f->items)
      hp.frozen.push_back(read_entry(where + "'frozen'", m, [](const ValuePtr& x) { return x->as_str(); }));
  }
  return hp;
}

TrainingState read_training_state(const io::ValuePtr& ck) {
  if (!ck || !ck->is_dict()) bad("expected a dict {epoch, valid_loss_min, state_dict, optimizer}");
  for (const char* key : {"epoch", "state_dict", "optimizer"})
    if (!ck->get(key)) {
      std::string keys;
      for (const auto& k : ck->keys()) keys += (keys.empty() ? "'" : ", '") + k + "'";
      bad(std::string("no '") + key + "' entry (keys: " + keys + ")");
    }
  TrainingState st;
  st.epoch = read_entry("'epoch'", ck->at("epoch"), [](const ValuePtr& v) { return v->as_int(); });
  if (st.epoch < 0) bad("negative epoch " + std::to_string(st.epoch));
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  st.valid_loss_min = number_or(ck, "valid_loss_min", inf, "");
  st.train_loss = number_or(ck, "train_loss", nan, "");
  st.valid_loss = number_or(ck, "valid_loss", nan, "");
  st.valid_accuracy = number_or(ck, "valid_accuracy", nan, "");
  if (ValuePtr rng = entry(ck, "rng_state")) {
    if (!rng->is_tensor()) bad("'rng_state' is a " + rng->kind_name() + ", expected a uint8 tensor");
    Tensor t = rng->tensor.contiguous();
    if (t.dtype() != DType::UInt8) bad("'rng_state' is not a uint8 tensor");
    st.rng_state = std::string(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()));
    // Checked now, so that a bad one fails before any training.
    try {
      Generator().set_state(*st.rng_state);
    } catch (const std::exception& e) {
      bad(std::string("'rng_state': ") + e.what());
    }
  }
  st.hparams = read_hparams(ck);
  return st;
}

TrainingState load_training_checkpoint(const io::ValuePtr& ck, nn::Module& model, Adam& opt, std::string* prefix_note) {
  TrainingState st = read_training_state(ck);
  bool stripped = false;
  nn::StateDict sd = nn::model_state_dict_of(ck, "checkpoint 'state_dict'", &stripped);
  if (stripped && prefix_note) *prefix_note = "stripped the 'module.' prefix (a DataParallel-wrapped model's state_dict)";
  // Validate both before changing either: a failed load changes nothing.
  const nn::StateDict before = [&] {
    nn::StateDict copy;
    for (const auto& [k, t] : model.state_dict()) copy.insert(k, t.clone());
    return copy;
  }();
  model.load_state_dict(sd, true);
  try {
    opt.load_state_dict(ck->at("optimizer"));
  } catch (...) {
    model.load_state_dict(before, true);
    throw;
  }
  return st;
}

void freeze(nn::Module& model, const std::vector<std::string>& modules) {
  const auto params = model.named_parameters();
  for (const auto& m : modules) {
    bool found = false;
    for (const auto& [name, t] : params)
      if (name.rfind(m + ".", 0) == 0 || name == m) {
        Tensor(t).set_requires_grad(false);
        found = true;
      }
    if (!found) {
      // Only modules that hold parameters can be frozen, so only those are listed.
      std::string names;
      for (const auto& [n, sub] : model.named_modules())
        if (!n.empty() && !sub->named_parameters().empty()) names += (names.empty() ? "" : ", ") + n;
      throw std::invalid_argument("freeze: the model has no module or parameter '" + m + "' (modules: " + names + ")");
    }
  }
}

}  // namespace torchless::optim
