// `torchless train`'s checks before training: flag values (usage errors,
// exit 2, before any file is read), a resumed checkpoint's epoch and
// hyper-parameters, errors that name the file, destinations that could not be
// written, empty data sets, and the --metrics CSV (appended to, never wiped;
// a row only for an epoch whose checkpoint was saved).
//
// The runs use a tiny IDX data set written here, so each takes a fraction of
// a second and needs no installed Fashion-MNIST.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"
#include "io/torch_save.h"
#include "io/value.h"
#include "nn/fashion_classifier.h"
#include "nn/state_dict.h"
#include "optim/adam.h"
#include "optim/training_checkpoint.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
using torchless::io::Value;
using torchless::io::ValuePtr;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::string kCli = TORCHLESS_CLI;
const std::string kHeader = "epoch,train_loss,valid_loss,valid_accuracy,samples_per_s";

struct Result {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
  std::string all() const { return out + "\n--- stderr ---\n" + err; }
};

// Runs `torchless train ARGS` in `cwd`, stdout and stderr apart.
Result train_in(const std::string& cwd, const std::string& args, const std::string& shell_prefix = "") {
  const std::string err_path = cwd + "/.stderr";
  const CommandResult c = run_command("cd " + quote(cwd) + " && " + shell_prefix + "exec " + quote(kCli) +
                                      " train --threads 1 " + args + " 2>" + quote(err_path));
  Result r{c.rc, c.out, read_file(err_path)};
  std::remove(err_path.c_str());
  return r;
}

void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
}

// {train,t10k}-{images-idx3,labels-idx1}-ubyte (uncompressed) with n_train and
// n_test images of varied pixels and labels 0..9.
void write_data(const std::string& dir, uint32_t n_train, uint32_t n_test) {
  fs::create_directories(dir);
  for (const auto& [prefix, n] : {std::pair<std::string, uint32_t>{"train", n_train}, {"t10k", n_test}}) {
    std::string images("\x00\x00\x08\x03", 4), labels("\x00\x00\x08\x01", 4);
    put_u32(images, n);
    put_u32(images, 28);
    put_u32(images, 28);
    put_u32(labels, n);
    for (uint32_t i = 0; i < n; ++i) {
      for (uint32_t p = 0; p < 784; ++p) images.push_back(static_cast<char>((i * 37 + p * (i % 10 + 1)) & 0xff));
      labels.push_back(static_cast<char>(i % 10));
    }
    ASSERT_TRUE(write_file(dir + "/" + prefix + "-images-idx3-ubyte", images));
    ASSERT_TRUE(write_file(dir + "/" + prefix + "-labels-idx1-ubyte", labels));
  }
}

// A temp folder with a 60 + 20 image data set in data/; `flags()` points a run at it.
struct Fixture {
  TempDir tmp{"torchless_train_flags_"};
  std::string dir = tmp.path().string();
  std::string data = tmp / "data";
  Fixture() { write_data(data, 60, 20); }
  std::string flags() const { return "--data " + quote(data) + " "; }
  Result train(const std::string& args, const std::string& shell_prefix = "") const {
    return train_in(dir, flags() + args, shell_prefix);
  }
};

// A torchless training checkpoint at `epoch` (fresh weights, empty Adam state,
// a generator state), for `edit` to spoil before it is saved to `path`.
void write_checkpoint(const std::string& path, int64_t epoch, const std::function<void(const ValuePtr&)>& edit = {}) {
  torchless::Generator gen(1);
  torchless::nn::FashionClassifier model(0.2, &gen);
  torchless::optim::Adam opt(model.parameters(), torchless::optim::AdamOptions{});
  torchless::optim::TrainingState st;
  st.epoch = epoch;
  st.valid_loss_min = 2.5;
  st.rng_state = gen.get_state();
  const ValuePtr ck = torchless::optim::make_training_checkpoint(st, model, opt);
  if (edit) edit(ck);
  torchless::io::save(ck, path);
}

void set_hparam(const ValuePtr& ck, const std::string& key, const ValuePtr& v) { ck->at("hparams")->set(key, v); }

#define EXPECT_HAS(haystack, needle) EXPECT_TRUE(contains(haystack, needle)) << "no '" << (needle) << "' in:\n" << (haystack)
#define EXPECT_LACKS(haystack, needle) \
  EXPECT_FALSE(contains(haystack, needle)) << "unexpected '" << (needle) << "' in:\n" << (haystack)

// A usage error: exit 2, the message names `flag`, then the usage text.
void expect_usage_error(const Result& r, const std::string& flag) {
  EXPECT_EQ(r.rc, 2) << r.all();
  EXPECT_HAS(r.err, "torchless train: ");
  EXPECT_HAS(r.err, flag);
  EXPECT_HAS(r.err, "usage: torchless train");
  EXPECT_LACKS(r.out, "Epoch 1/");
}

// A plain error (exit 1, no usage text) that says `what`, before any epoch trained.
void expect_error_before_training(const Result& r, const std::vector<std::string>& what) {
  EXPECT_EQ(r.rc, 1) << r.all();
  EXPECT_HAS(r.err, "torchless train: error: ");
  for (const auto& w : what) EXPECT_HAS(r.err, w);
  EXPECT_LACKS(r.err, "usage:");
  EXPECT_LACKS(r.out, "Epoch 1/");
}

}  // namespace

// Defect: --checkpoint-dir "" wrote current_checkpoint.pt and best_model.pt to /.
TEST(TrainFlags, EmptyPathsAreUsageErrors) {
  Fixture f;
  // --epochs 0 --no-checkpoints: a build with the defect must not write to / either.
  for (const char* flag : {"--checkpoint-dir", "--checkpoint", "--metrics", "--resume", "--init", "--data"}) {
    SCOPED_TRACE(flag);
    const Result r = f.train("--epochs 0 --no-checkpoints " + std::string(flag) + " ''");
    expect_usage_error(r, std::string(flag) + " needs a path, got ''");
  }
}

// Defect: --metrics truncated an existing file unless --resume was given.
TEST(TrainFlags, MetricsAppendsAndWritesTheHeaderOnlyOnce) {
  Fixture f;
  const std::string old_rows = kHeader + "\n1,0.5,0.4,0.8,1000.0\n2,0.45,0.39,0.81,1000.0\n";
  write_file(f.tmp / "m.csv", old_rows);
  Result r = f.train("--epochs 1 --no-checkpoints --metrics m.csv");
  ASSERT_EQ(r.rc, 0) << r.all();
  std::string csv = read_file(f.tmp / "m.csv");
  ASSERT_TRUE(starts_with(csv, old_rows)) << "earlier rows lost:\n" << csv;
  std::vector<std::string> lines = lines_of(csv);
  ASSERT_EQ(lines.size(), 4u) << csv;
  EXPECT_TRUE(starts_with(lines[3], "1,")) << csv;

  // A new file and an empty one get the header; so does no other file.
  write_file(f.tmp / "empty.csv", "");
  for (const char* name : {"new.csv", "empty.csv"}) {
    r = f.train("--epochs 1 --no-checkpoints --metrics " + std::string(name));
    ASSERT_EQ(r.rc, 0) << r.all();
    lines = lines_of(read_file(f.tmp / name));
    ASSERT_EQ(lines.size(), 2u) << name;
    EXPECT_EQ(lines[0], kHeader) << name;
  }
  // A file whose last row lacks its newline: the new row still starts a line.
  write_file(f.tmp / "cut.csv", kHeader + "\n1,0.5,0.4,0.8,1000.0");
  r = f.train("--epochs 1 --no-checkpoints --metrics cut.csv");
  ASSERT_EQ(r.rc, 0) << r.all();
  lines = lines_of(read_file(f.tmp / "cut.csv"));
  ASSERT_EQ(lines.size(), 3u) << read_file(f.tmp / "cut.csv");
  EXPECT_EQ(lines[1], "1,0.5,0.4,0.8,1000.0");
  EXPECT_TRUE(starts_with(lines[2], "1,")) << lines[2];
}

// A --metrics file that is not one of these CSVs is refused before training, and kept.
TEST(TrainFlags, MetricsRefusesAForeignFileBeforeTraining) {
  Fixture f;
  const std::string notes = "my notes\nkeep these\n";
  write_file(f.tmp / "notes.txt", notes);
  Result r = f.train("--epochs 1 --metrics notes.txt");
  expect_error_before_training(r, {"--metrics notes.txt", "not a metrics CSV", "my notes"});
  EXPECT_EQ(read_file(f.tmp / "notes.txt"), notes) << "the user's file changed";
  EXPECT_FALSE(fs::exists(f.tmp / "checkpoints")) << "checkpoints written before the refusal";

  fs::create_directory(f.tmp / "mdir");
  r = f.train("--epochs 1 --no-checkpoints --metrics mdir");
  expect_error_before_training(r, {"--metrics mdir", "is a directory"});
}

// Defect: a checkpoint destination that is a directory passed the check and
// the epoch trained before the save failed.
TEST(TrainFlags, UnwritableCheckpointDestinationsFailBeforeTraining) {
  Fixture f;
  fs::create_directory(f.tmp / "adir");
  Result r = f.train("--epochs 1 --checkpoint adir");
  expect_error_before_training(r, {"cannot save the checkpoint adir", "is a directory", "found before training"});

  fs::create_directories(f.tmp / "bd/best_model.pt");
  r = f.train("--epochs 1 --checkpoint-dir bd");
  expect_error_before_training(r, {"cannot save the checkpoint bd/best_model.pt", "is a directory"});
  EXPECT_FALSE(fs::exists(f.tmp / "bd/current_checkpoint.pt"));

  fs::create_directories(f.tmp / "cd/current_checkpoint.pt");
  r = f.train("--epochs 1 --checkpoint-dir cd");
  expect_error_before_training(r, {"cannot save the checkpoint cd/current_checkpoint.pt", "is a directory"});

  write_file(f.tmp / "afile", "x");
  r = f.train("--epochs 1 --checkpoint-dir afile");
  expect_error_before_training(r, {"--checkpoint-dir afile", "not a directory"});
  EXPECT_EQ(read_file(f.tmp / "afile"), "x");

  // The latest checkpoint would overwrite the best one every epoch.
  r = f.train("--epochs 1 --checkpoint-dir ck --checkpoint ck/./best_model.pt");
  expect_usage_error(r, "--checkpoint ck/./best_model.pt is where the best model goes too");
  r = f.train("--epochs 1 --checkpoint-dir ck --metrics ck/current_checkpoint.pt");
  expect_usage_error(r, "--metrics ck/current_checkpoint.pt is a checkpoint's path too");

  // --checkpoint in a folder that does not exist yet: made, like --checkpoint-dir.
  r = f.train("--epochs 1 --checkpoint-dir ck --checkpoint runs/7/latest.pt");
  ASSERT_EQ(r.rc, 0) << r.all();
  EXPECT_TRUE(fs::is_regular_file(f.tmp / "runs/7/latest.pt"));
  EXPECT_TRUE(fs::is_regular_file(f.tmp / "ck/best_model.pt"));
}

// Defect: an empty validation set gave valid loss 0 and a "best" model with
// valid_loss_min 0; an empty training set "trained" with loss 0.
TEST(TrainFlags, EmptyTrainingOrValidationSetIsAnError) {
  Fixture f;
  const std::string five = f.tmp / "five", none = f.tmp / "none";
  write_data(five, 5, 5);  // the split holds out 5 / 6 = 0 images
  write_data(none, 0, 5);
  Result r = train_in(f.dir, "--data " + quote(five) + " --epochs 1 --metrics m.csv");
  expect_error_before_training(r, {"--data " + five, "5 training and 5 test image(s) leave 5 for training and 0 for "
                                   "validation", "--validation test", "nothing to validate on"});
  EXPECT_FALSE(fs::exists(f.tmp / "checkpoints/best_model.pt"));
  EXPECT_FALSE(fs::exists(f.tmp / "m.csv"));

  r = train_in(f.dir, "--data " + quote(none) + " --epochs 1 --validation test");
  expect_error_before_training(r, {"--data " + none, "leave 0 for training and 5 for validation",
                                   "nothing to train on"});

  // --validation test on the five: trains.
  r = train_in(f.dir, "--data " + quote(five) + " --epochs 1 --validation test --no-checkpoints");
  EXPECT_EQ(r.rc, 0) << r.all();
}

// Defect: --resume with --epochs not after the saved epoch trained nothing and exited 0.
TEST(TrainFlags, ResumeNeedsEpochsAfterTheCheckpoints) {
  Fixture f;
  const std::string ck = f.tmp / "ck5.pt";
  write_checkpoint(ck, 5);
  for (const std::string epochs : {" --epochs 2", " --epochs 5", ""}) {  // "": the default, 3
    SCOPED_TRACE(epochs);
    const Result r = f.train("--resume " + quote(ck) + epochs + " --no-checkpoints");
    expect_usage_error(r, "the checkpoint " + ck + " already finished epoch 5");
    EXPECT_HAS(r.err, "--epochs is the total number of epochs");
    EXPECT_HAS(r.err, "pass --epochs 6 or more");
    EXPECT_LACKS(r.out, "training epochs");
  }
  const Result ok = f.train("--resume " + quote(ck) + " --epochs 6 --no-checkpoints");
  ASSERT_EQ(ok.rc, 0) << ok.all();
  EXPECT_HAS(ok.out, "training epochs 6..6");
  EXPECT_HAS(ok.out, "Epoch 6/6");
}

// Defect: hparams from a resumed checkpoint skipped the flags' checks
// (batch_size 0 failed mid-run, a bad 'validation' blamed a flag never given,
// a negative seed was taken).
TEST(TrainFlags, ResumedHparamsGetTheFlagsChecks) {
  Fixture f;
  struct Case {
    std::string name;
    std::function<void(const ValuePtr&)> edit;
    std::vector<std::string> said;
    std::string override_flag;  // makes the run good again ("" when none does)
  };
  const std::vector<Case> cases = {
      {"bs0", [](const ValuePtr& ck) { set_hparam(ck, "batch_size", Value::integer(0)); },
       {"hparams 'batch_size' is 0", "between 1 and", "pass --batch-size"}, "--batch-size 8"},
      {"val", [](const ValuePtr& ck) { set_hparam(ck, "validation", Value::str("xx")); },
       {"hparams 'validation' is 'xx'", "'split' or 'test'"}, "--validation split"},
      {"seed", [](const ValuePtr& ck) { set_hparam(ck, "seed", Value::integer(-3)); },
       {"hparams 'seed' is -3", "must not be negative"}, "--seed 3"},
      {"drop", [](const ValuePtr& ck) { set_hparam(ck, "dropout", Value::floating(1.5)); },
       {"hparams 'dropout' is 1.5"}, "--dropout 0.1"},
      {"lr", [](const ValuePtr& ck) { set_hparam(ck, "lr", Value::floating(-1)); }, {"hparams 'lr' is -1"}, "--lr 0.01"},
      {"lrstr", [](const ValuePtr& ck) { set_hparam(ck, "lr", Value::str("fast")); },
       {"hparams 'lr': expected a number, got str"}, ""},
      {"frzstr", [](const ValuePtr& ck) { set_hparam(ck, "frozen", Value::str("fc1")); },
       {"hparams 'frozen' is a str, expected a list of module names"}, ""},
      {"frzall",
       [](const ValuePtr& ck) {
         auto l = Value::list();
         for (const char* m : {"fc1", "fc2", "fc3", "fc4", "fc5"}) l->items.push_back(Value::str(m));
         set_hparam(ck, "frozen", l);
       },
       {"hparams 'frozen' is [fc1,fc2,fc3,fc4,fc5]", "every parameter is frozen: nothing to train"}, "--freeze fc1"},
      {"frzbad",
       [](const ValuePtr& ck) {
         auto l = Value::list();
         l->items.push_back(Value::str("fc9"));
         set_hparam(ck, "frozen", l);
       },
       {"hparams 'frozen' is [fc9]", "no module or parameter 'fc9'"}, "--freeze ''"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string ck = f.tmp / ("hp_" + c.name + ".pt");
    write_checkpoint(ck, 1, c.edit);
    Result r = f.train("--resume " + quote(ck) + " --epochs 2 --no-checkpoints");
    std::vector<std::string> said = c.said;
    said.push_back("--resume " + ck + ": ");
    expect_error_before_training(r, said);
    EXPECT_LACKS(r.out, "Fashion-MNIST:") << "the data loaded before the checkpoint was checked";
    if (c.override_flag.empty()) continue;
    r = f.train("--resume " + quote(ck) + " --epochs 2 --no-checkpoints " + c.override_flag);
    EXPECT_EQ(r.rc, 0) << c.override_flag << ": " << r.all();
  }
}

// Defect: --resume and --init errors did not name the file, and a state_dict
// given to --resume got no hint to use --init.
TEST(TrainFlags, ResumeAndInitErrorsNameTheFile) {
  Fixture f;
  torchless::Generator gen(2);
  torchless::nn::FashionClassifier model(0.2, &gen);
  const std::string sd = f.tmp / "weights.pt";
  torchless::io::save(torchless::nn::to_value(model.state_dict()), sd);
  Result r = f.train("--resume " + quote(sd) + " --epochs 2");
  expect_error_before_training(r, {"--resume " + sd + ": no 'epoch' entry", "use --init " + sd});

  const auto spoilt = [&](const std::string& name, const std::function<void(const ValuePtr&)>& edit) {
    const std::string path = f.tmp / name;
    write_checkpoint(path, 1, edit);
    return path;
  };
  const std::string rng = spoilt("rng.pt", [](const ValuePtr& ck) {
    ck->set("rng_state", Value::from_tensor(torchless::zeros({3}, torchless::DType::UInt8)));
  });
  r = f.train("--resume " + quote(rng) + " --epochs 2");
  expect_error_before_training(r, {"--resume " + rng + ": 'rng_state': generator state must be 40 bytes, got 3"});

  const std::string vlm =
      spoilt("vlm.pt", [](const ValuePtr& ck) { ck->set("valid_loss_min", Value::str("low")); });
  r = f.train("--resume " + quote(vlm) + " --epochs 2");
  expect_error_before_training(r, {"--resume " + vlm + ": 'valid_loss_min': expected a number, got str"});

  const std::string opt = spoilt("opt.pt", [](const ValuePtr& ck) {
    ck->at("optimizer")->at("param_groups")->items.at(0)->set("betas", Value::floating(0.9));
  });
  r = f.train("--resume " + quote(opt) + " --epochs 2");
  expect_error_before_training(r, {"--resume " + opt + ": ", "betas"});

  const std::string shape = spoilt("shape.pt", [](const ValuePtr& ck) {
    ck->at("state_dict")->set("fc1.weight", Value::from_tensor(torchless::zeros({3, 3})));
  });
  r = f.train("--resume " + quote(shape) + " --epochs 2");
  expect_error_before_training(r, {"--resume " + shape + ": ", "fc1.weight"});
  r = f.train("--init " + quote(shape) + " --epochs 1");
  expect_error_before_training(r, {"--init " + shape + ": ", "size mismatch for fc1.weight", "--non-strict"});

  write_file(f.tmp / "notes.txt", "not a checkpoint\n");
  for (const char* flag : {"--init", "--resume"}) {
    r = f.train(std::string(flag) + " notes.txt --epochs 2");
    expect_error_before_training(r, {std::string(flag) + " notes.txt: not a torch checkpoint"});
    EXPECT_LACKS(r.err, "notes.txt: notes.txt");
  }
}

// Defect: freezing every layer failed at the first backward(), after the data loaded.
TEST(TrainFlags, FreezingEverythingOrAnUnknownModuleIsAUsageError) {
  Fixture f;
  // --data is missing: the flags are checked before it is looked at.
  Result r = train_in(f.dir, "--data /nonexistent --freeze fc1,fc2,fc3,fc4,fc5 --epochs 1");
  expect_usage_error(r, "--freeze fc1,fc2,fc3,fc4,fc5: every parameter is frozen: nothing to train");
  r = train_in(f.dir, "--data /nonexistent --freeze fc1,fc9 --epochs 1");
  expect_usage_error(r, "--freeze fc1,fc9: the model has no module or parameter 'fc9'");
  r = f.train("--freeze fc1,fc2,fc3,fc4 --epochs 1 --no-checkpoints");
  EXPECT_EQ(r.rc, 0) << r.all();
  EXPECT_HAS(r.out, "Frozen: fc1,fc2,fc3,fc4");
}

// Defect: --device tpu / cuda:x exited 1; a bad flag beside a missing --resume
// file exited 1 because the file was opened first.
TEST(TrainFlags, BadFlagValuesAreUsageErrorsBeforeAnyFileIsRead) {
  Fixture f;
  // cuda and cuda:0 are usage errors only where no CUDA device is visible.
  std::vector<std::string> bad = {"tpu", "cuda:x", "cuda:99"};
  if (torchless::cuda_device_count() == 0) bad.insert(bad.end(), {"cuda", "cuda:0"});
  for (const std::string& dev : bad) {
    SCOPED_TRACE(dev);
    expect_usage_error(f.train("--epochs 1 --device " + dev), "--device");
  }
  expect_usage_error(f.train("--resume missing.pt --batch-size 0"), "--batch-size must be between 1 and");
  expect_usage_error(f.train("--init missing.pt --lr nan"), "--lr expects a number");
  expect_usage_error(f.train("--resume missing.pt --validation foo"), "--validation must be 'split' or 'test'");
  const Result r = f.train("--resume missing.pt --epochs 2");
  expect_error_before_training(r, {"--resume missing.pt: ", "No such file"});
}

// Defect: the metrics row was written before the epoch's checkpoint; a failed
// save left a row for an epoch no checkpoint has (and resuming wrote it again).
TEST(TrainFlags, MetricsRowOnlyAfterTheCheckpointIsSaved) {
  Fixture f;
  // The checkpoint (megabytes) outgrows a 100-block file size limit; the CSV does
  // not. With SIGXFSZ ignored the write fails with EFBIG instead of killing the run.
  Result r = f.train("--epochs 1 --metrics m.csv", "trap '' XFSZ; ulimit -f 100; ");
  EXPECT_EQ(r.rc, 1) << r.all();
  EXPECT_HAS(r.err, "cannot save the checkpoint");
  EXPECT_HAS(r.out, "Epoch 1/1");  // the epoch trained; the save failed
  EXPECT_EQ(read_file(f.tmp / "m.csv"), kHeader + "\n") << "a row for an epoch without a checkpoint";
  EXPECT_FALSE(fs::exists(f.tmp / "checkpoints/current_checkpoint.pt"));

  // The same run with room: the resumed run appends the next epoch, no duplicates.
  r = f.train("--epochs 1 --metrics m.csv");
  ASSERT_EQ(r.rc, 0) << r.all();
  r = f.train("--resume checkpoints/current_checkpoint.pt --epochs 2 --metrics m.csv");
  ASSERT_EQ(r.rc, 0) << r.all();
  const std::vector<std::string> lines = lines_of(read_file(f.tmp / "m.csv"));
  ASSERT_EQ(lines.size(), 3u) << read_file(f.tmp / "m.csv");
  EXPECT_TRUE(starts_with(lines[1], "1,")) << lines[1];
  EXPECT_TRUE(starts_with(lines[2], "2,")) << lines[2];
}

// --flush-denormal is a switch of the float mode only: the JSON says which
// mode ran, and on this tiny run (no value gets near 1e-38) the results are
// the same as without it.
TEST(TrainFlags, FlushDenormalIsReportedAndChangesNothingAboveDenormals) {
  Fixture f;
  const Result ieee = f.train("--epochs 2 --no-checkpoints --seed 3");
  const Result flush = f.train("--epochs 2 --no-checkpoints --seed 3 --flush-denormal");
  ASSERT_EQ(ieee.rc, 0) << ieee.all();
  ASSERT_EQ(flush.rc, 0) << flush.all();
  EXPECT_HAS(ieee.out, "\"flush_denormal\": false");
  EXPECT_HAS(flush.out, "\"flush_denormal\": true");
  const auto losses = [](const std::string& out) {
    std::string kept;
    for (const std::string& line : lines_of(out))
      if (starts_with(line, "Epoch ")) kept += line.substr(0, line.rfind("  ")) + "\n";  // drop samples/s
    return kept;
  };
  EXPECT_FALSE(losses(ieee.out).empty()) << ieee.all();
  EXPECT_EQ(losses(ieee.out), losses(flush.out));
  expect_usage_error(f.train("--flush-denormal=1"), "--flush-denormal");
}
