# Hardware models of the sim layer (accelerator catalog, compute timing, power). Included by sim/CMakeLists.txt.
set(CLUSTERSIM_SIM_HW_SOURCES
  accelerator.cpp
  compute_model.cpp
  power_model.cpp
)
set(CLUSTERSIM_SIM_HW_TESTS
  accelerator_test.cpp
  compute_model_test.cpp
  power_model_test.cpp
)
set(CLUSTERSIM_ACCELERATOR_CATALOG
  catalog/a100_80gb.textproto
)
