#pragma once
// What a pickle global would do in Python, for `torchless verify`: the one
// place that says which globals torch.load(weights_only=True) accepts, which
// are known to run code or import modules when unpickled, and which load a
// further pickle from bytes (so that the scanner reads those bytes too).
//
// Sources of the "runs code" list (global_policy.cpp keeps it in one table):
// Python's pickle documentation ("Restricting Globals": os.system, eval,
// exec, getattr, __import__); torch's own weights_only blocklist (sys, os,
// posix, nt refused even when allowed; torch/_weights_only_unpickler.py);
// torch's own re-entries into the unpickler (torch.storage._load_from_bytes,
// torch.load) which is why a file is scanned here rather than trusted to
// torch's check (weights_only=True itself had bypasses: CVE-2025-32434,
// CVE-2026-24747); and the module lists
// of the open-source pickle scanners picklescan and ModelAudit (subprocess,
// _posixsubprocess, socket, shutil, runpy, importlib, pty, ctypes, timeit,
// pdb, cProfile, webbrowser, marshal, dill, ...). A denylist is never
// complete: anything outside torch's allowlist that is not on it is still
// reported (GlobalRisk::Unlisted), because importing an unknown module runs
// that module's code.
#include <string>
#include <string_view>

namespace torchless::io {

enum class GlobalRisk {
  Allowed,   ///< in torch.load(weights_only=True)'s default allowlist
  Numpy,     ///< numpy scalar/array rebuild: inert, but torch needs add_safe_globals for it
  Unlisted,  ///< outside the allowlist: torch.load(weights_only=False) imports it and may call it
  Executes,  ///< known to run code, commands, file or network I/O, or a nested load
};

/// The risk of a global named "module.qualname" (after Python 2 name mapping,
/// as the unpickler reports it). Never throws.
GlobalRisk classify_global(std::string_view full_name);

/// Why a global has its risk, in a few words ("runs shell commands", "not in
/// torch's weights_only allowlist"). Never throws.
std::string global_risk_reason(std::string_view full_name);

/// True for globals that unpickle bytes they are given (pickle.loads,
/// torch.storage._load_from_bytes, torch.load, dill.loads, ...): the
/// scanner reads such bytes as a nested pickle.
bool loads_nested_pickle(std::string_view full_name);

/// "allowed", "numpy", "unlisted", "executes": the report's names.
const char* risk_name(GlobalRisk r);

}  // namespace torchless::io
