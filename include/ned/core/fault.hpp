#pragma once
// Fault-injection points for the tests of failure handling (e.g. a data-parallel rank that dies in a given phase
// of training): a library marks a place with fault_point("name"); nothing happens unless the process installed a
// handler. `main` installs one when NED_FAULT_POINT names a point (the only place the variable is read): at that
// point the process kills itself with SIGKILL, as a node that dies would, without any clean-up
// (NED_FAULT_STALL=NAME:SECONDS: it stays busy there that long instead).
#include <functional>
#include <string>

namespace ned {

/// Mark a place where a test may make the process fail. Cheap when no handler is installed.
void fault_point(const char* name);
/// Install (or, with an empty function, remove) the process-wide handler called by every fault_point.
void set_fault_handler(std::function<void(const char* name)> handler);

}  // namespace ned
