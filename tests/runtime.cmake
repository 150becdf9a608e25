# Environment for the runtime tests whose subject is an environment flag.
set_tests_properties(test_runtime_profile PROPERTIES
  ENVIRONMENT "MLXC_PROFILE_CB=1;MLXC_PROFILE_DISPATCH=1;MLXC_PROFILE_BARRIERS=1")
set_tests_properties(test_runtime_env PROPERTIES
  ENVIRONMENT "MLXC_AUTO_BARRIER=1;MLXC_UNRETAINED_REFS=1;MLXC_CPU_THREADS=3;MLXC_BACKEND=cpu")
# Concurrency is observable only with several workers, whatever the machine.
set_tests_properties(test_runtime_semantics PROPERTIES ENVIRONMENT "MLXC_CPU_THREADS=4")
# The tool's default job runs and its three paths agree.
if(TARGET mlxc_tool)
  add_test(NAME mlxc_demo COMMAND mlxc_tool demo --replays 5)
  set_tests_properties(mlxc_demo PROPERTIES PASS_REGULAR_EXPRESSION "checksums: .* -> identical")
  add_test(NAME mlxc_info_devices COMMAND mlxc_tool info)
  set_tests_properties(mlxc_info_devices PROPERTIES PASS_REGULAR_EXPRESSION "cpu:0 +CPU")
endif()
