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
# Built-in accelerators, embedded as kAcceleratorCatalog (one clustersim.v1.AcceleratorCatalogEntry per file).
set(CLUSTERSIM_ACCELERATOR_CATALOG
  catalog/a100_80gb.textproto
  catalog/ascend_910b.textproto
  catalog/ascend_910c.textproto
  catalog/b200.textproto
  catalog/biren_br100.textproto
  catalog/cambricon_mlu590.textproto
  catalog/gb200.textproto
  catalog/h100_sxm.textproto
  catalog/h200.textproto
  catalog/h800.textproto
  catalog/tpu_v5p.textproto
)
