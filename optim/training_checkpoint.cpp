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

double number_or(const ValuePtr& d, const char* key, double def) {
  ValuePtr v = d->get(key);
  if (!v || v->is_none()) return def;
  if (v->is_tensor()) return v->tensor.item();
  return v->as_number();
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
  ck->set("hparams", hp);
  ck->set("train_loss", Value::floating(st.train_loss));
  ck->set("valid_loss", Value::floating(st.valid_loss));
  ck->set("valid_accuracy", Value::floating(st.valid_accuracy));
  return ck;
}

HyperParams read_hparams(const io::ValuePtr& ck, HyperParams hp) {
  ValuePtr h = ck && ck->is_dict() ? ck->get("hparams") : nullptr;
  if (!h || !h->is_dict()) return hp;
  hp.lr = number_or(h, "lr", hp.lr);
  hp.dropout = number_or(h, "dropout", hp.dropout);
  if (ValuePtr b = h->get("batch_size")) hp.batch_size = b->as_int();
  if (ValuePtr s = h->get("seed")) hp.seed = s->as_int();
  if (ValuePtr v = h->get("validation"); v && v->kind == Value::Kind::Str) hp.validation = v->s;
  if (ValuePtr f = h->get("frozen"); f && f->kind == Value::Kind::List) {
    hp.frozen.clear();
    for (const auto& m : f->items) hp.frozen.push_back(m->as_str());
  }
  return hp;
}

TrainingState load_training_checkpoint(const io::ValuePtr& ck, nn::Module& model, Adam& opt, std::string* prefix_note) {
  if (!ck || !ck->is_dict()) bad("expected a dict {epoch, valid_loss_min, state_dict, optimizer}");
  for (const char* key : {"epoch", "state_dict", "optimizer"})
    if (!ck->get(key)) {
      std::string keys;
      for (const auto& k : ck->keys()) keys += (keys.empty() ? "'" : ", '") + k + "'";
      bad(std::string("no '") + key + "' entry (keys: " + keys + ")");
    }
  TrainingState st;
  st.epoch = ck->at("epoch")->as_int();
  if (st.epoch < 0) bad("negative epoch " + std::to_string(st.epoch));
  st.valid_loss_min = number_or(ck, "valid_loss_min", std::numeric_limits<double>::infinity());
  st.train_loss = number_or(ck, "train_loss", std::numeric_limits<double>::quiet_NaN());
  st.valid_loss = number_or(ck, "valid_loss", std::numeric_limits<double>::quiet_NaN());
  st.valid_accuracy = number_or(ck, "valid_accuracy", std::numeric_limits<double>::quiet_NaN());
  if (ValuePtr rng = ck->get("rng_state"); rng && rng->is_tensor()) {
    Tensor t = rng->tensor.contiguous();
    if (t.dtype() != DType::UInt8) bad("'rng_state' is not a uint8 tensor");
    st.rng_state = std::string(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()));
  }
  st.hparams = read_hparams(ck);
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
      std::string names;
      for (const auto& [n, c] : model.named_children()) names += (names.empty() ? "" : ", ") + n;
      throw std::invalid_argument("freeze: the model has no module or parameter '" + m + "' (modules: " + names + ")");
    }
  }
}

}  // namespace torchless::optim
