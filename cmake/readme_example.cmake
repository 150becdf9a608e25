# Writes OUT: the first ```c block of README (the README's program that
# opens a model and generates text), exactly as a reader would copy it.
# Run with -P by the build (the readme_example program) and included by
# the install test (tests/install_consumer/run.cmake), both with README and
# OUT set.
file(READ ${README} text)
string(FIND "${text}" "\n```c\n" begin)
if(begin EQUAL -1)
  message(FATAL_ERROR "${README}: no ```c block")
endif()
math(EXPR begin "${begin} + 6")
string(SUBSTRING "${text}" ${begin} -1 text)
string(FIND "${text}" "\n```" end)
if(end EQUAL -1)
  message(FATAL_ERROR "${README}: the first ```c block is not closed")
endif()
math(EXPR end "${end} + 1")
string(SUBSTRING "${text}" 0 ${end} code)
file(WRITE ${OUT} "${code}")
