// gemforge._C: the thin Python face of the registry. No tensors cross here; kernels are reached
// through torch's dispatcher.
#include "gemforge/gemforge.h"
#include "engine/gemm_tuning.h"
#include "registry/registry.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using Names = std::optional<std::vector<std::string>>;

PYBIND11_MODULE(_C, m) {
  m.doc() = "gemforge native module";
  py::register_exception<std::invalid_argument>(m, "GemforgeValueError", PyExc_ValueError);

  m.def("version", &gemforge::version);
  m.def("available_backends", &gemforge::available_backends);
  m.def("registered_ops", [] {
    std::vector<std::tuple<std::string, std::string, std::vector<std::string>, std::string>> rows;
    for (auto& op : gemforge::registered_ops())
      rows.emplace_back(op.overload, op.family, op.backends, op.via);
    return rows;
  });
  m.def("select", [](const Names& include, const Names& exclude, const Names& backends) {
    return gemforge::reg::select(include ? &*include : nullptr, exclude ? &*exclude : nullptr,
                                 backends ? &*backends : nullptr);
  }, py::arg("include"), py::arg("exclude"), py::arg("backends"));
  m.def("set_active", &gemforge::reg::set_active, py::call_guard<py::gil_scoped_release>());
  m.def("active", &gemforge::reg::active);
  m.def("is_enabled", &gemforge::is_enabled);
  m.def("record_stats", &gemforge::record_stats);
  m.def("stats_recording", &gemforge::stats_recording);
  m.def("stats", &gemforge::stats);
  m.def("fallbacks", &gemforge::fallbacks);
  m.def("served_calls", &gemforge::served_calls);
  m.def("reset_stats", &gemforge::reset_stats);
  m.def("gemm_tuning", &gemforge::gemm::tuning::set_enabled);
  m.def("gemm_tuning_enabled", &gemforge::gemm::tuning::enabled);
  m.def("set_gemm_table_dirs", &gemforge::gemm::tuning::set_dirs);
  m.def("device_slug", &gemforge::gemm::tuning::slug);
}
