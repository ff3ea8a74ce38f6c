#pragma once
// Fault-injection and cancellation points for the tests of failure handling (e.g. a data-parallel rank that dies
// in a given phase of training, a render pass killed after N frames): a library marks a place with
// fault_point("name") or fault_point("name", count); nothing happens unless the process installed a handler.
// Libraries never read the environment or raise signals for this themselves: the caller decides what a point
// does. The `ned` binary installs its handler in one place, src/cli/environment.cpp (called by `main`), from
// NED_FAULT_POINT / NED_FAULT_STALL / NED_TEST_INTERRUPT_RENDER_AFTER / NED_TEST_INTERRUPT_SIGNAL (docs/cli.md,
// "Environment variables"); a unit test installs its own (and may throw from it to cancel the operation, as a
// cancellation token would: the library's usual exception paths clean up).
//
// Points: dist.rendezvous, dist.process_group, train.data, train.resume, train.broadcast, train.step,
// train.epoch_end, train.validate, train.checkpoint (no count); render.frames_done (count = frames of the
// render pass on disk so far, resumed ones included: ned::renderer::render_workdir before each frame, the
// streamed render of ned::pipeline after each); composite.frames_done (count = frames written to the temporary
// output video so far: ned::blend::composite_video after each), render_inputs.frames_done (count = frames whose
// conditioning images are on disk: ned::conditioning::render_inputs after each batch).
#include <cstdint>
#include <functional>
#include <string>

namespace ned {

/// What a handler receives: the point's name and its count (-1 for a point without one).
using FaultHandler = std::function<void(const char* name, int64_t count)>;

/// Mark a place where a test may make the process fail (or cancel the operation by throwing). Cheap when no
/// handler is installed.
void fault_point(const char* name, int64_t count = -1);
/// Install (or, with an empty function, remove) the process-wide handler called by every fault_point.
void set_fault_handler(FaultHandler handler);

}  // namespace ned
