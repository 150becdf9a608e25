# Environment for the runtime tests whose subject is an environment flag.
set_tests_properties(test_runtime_profile PROPERTIES
  ENVIRONMENT "MLXC_PROFILE_CB=1;MLXC_PROFILE_DISPATCH=1;MLXC_PROFILE_BARRIERS=1" SKIP_RETURN_CODE 77)
set_tests_properties(test_runtime_env PROPERTIES
  ENVIRONMENT "MLXC_AUTO_BARRIER=1;MLXC_UNRETAINED_REFS=1;MLXC_CPU_THREADS=3;MLXC_BACKEND=cpu")
# Concurrency is observable only with several workers, whatever the machine.
set_tests_properties(test_runtime_semantics PROPERTIES ENVIRONMENT "MLXC_CPU_THREADS=4" SKIP_RETURN_CODE 77)
set_tests_properties(test_runtime_api test_runtime_fault test_runtime_threads PROPERTIES SKIP_RETURN_CODE 77)
set_tests_properties(test_readme_example PROPERTIES SKIP_RETURN_CODE 77)
