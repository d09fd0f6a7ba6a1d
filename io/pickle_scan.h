#pragma once
// The malware scan behind `torchless verify`: every global a pickle names,
// what it would do in Python (io/global_policy.h), and where it sits in the
// object the pickle builds, without running anything. Bytes handed to a
// global that unpickles them again (pickle.loads, torch.load,
// torch.storage._load_from_bytes, ...) are scanned as nested pickles.
//
// The scan reads pickles with io::unpickle (no torch hooks: tensors stay
// inert objects), so it works on files the torch loader would refuse, and
// it keeps what it saw before a pickle turned out to be malformed: Python
// runs a REDUCE as soon as it reads it, so a payload before the damage
// still runs.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "io/global_policy.h"

namespace torchless::io {

struct GlobalUse {
  std::string name;     ///< "os.system"
  GlobalRisk risk = GlobalRisk::Unlisted;
  std::string pickle;   ///< which pickle: "data.pkl", or "data.pkl: root['x'].args (nested pickle)"
  size_t offset = 0;    ///< byte offset of its first GLOBAL/STACK_GLOBAL in that pickle
  size_t uses = 0;      ///< how many times that pickle names it
  /// Where the global sits in the object the pickle builds ("root['model']",
  /// the object a call made, or the global itself); at most kMaxPaths. Empty
  /// when the result is not kept (a call whose result was popped: it still
  /// runs during the load).
  std::vector<std::string> paths;
  size_t more_paths = 0;  ///< places beyond the listed ones
  static constexpr size_t kMaxPaths = 8;
};

struct PickleScan {
  std::vector<GlobalUse> globals;    ///< in order of first appearance (per pickle)
  std::vector<std::string> problems; ///< pickles that did not parse, with the parser's error
  /// The riskiest global seen (Allowed when there are none).
  GlobalRisk worst() const;
};

/// Scans one pickle and appends what it finds to `out`, labelled `label`.
/// When `consumed` is given it receives the offset just past STOP (0 if the
/// pickle did not parse), for streams of pickles. Never throws for bad
/// input: a parse error is recorded in out.problems and the globals seen
/// before it are kept. Nested pickles are followed `max_nesting` levels deep.
void scan_pickle(std::string_view bytes, const std::string& label, PickleScan& out, size_t* consumed = nullptr,
                 int max_nesting = 4);

}  // namespace torchless::io
