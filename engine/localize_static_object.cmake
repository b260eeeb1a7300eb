# Turns the relocatable object INPUT (`ld -r --force-group-allocation` of the engine's objects)
# into OUTPUT, the one object of the installed static archive: the calls named in the version
# script VERSION_SCRIPT stay global, every other symbol it defines becomes local, so the
# archive's Asio, Beast and inline std:: code can neither clash with nor bind to a host
# program's own copies (the shared library gets the same from the version script).
#  - Section groups are dissolved by --force-group-allocation before: a host program with the
#    same inline function (std::string's destructor) would otherwise get our group discarded in
#    favour of its own, leaving our now-local references pointing into a discarded section.
#  - STB_GNU_UNIQUE symbols (static data of inline functions and templates) are weakened first:
#    objcopy cannot make a unique symbol local.
# Run with cmake -P and -DINPUT= -DOUTPUT= -DVERSION_SCRIPT= -DNM= -DOBJCOPY=.
foreach(var INPUT OUTPUT VERSION_SCRIPT NM OBJCOPY)
  if(NOT ${var})
    message(FATAL_ERROR "localize_static_object.cmake: ${var} not set")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN} failed (${rc}): ${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Defined global symbols of an object, one "TYPE NAME" line each.
function(global_symbols object result)
  run(${NM} --defined-only --extern-only --format=posix ${object})
  string(REPLACE "\n" ";" lines "${run_output}")
  set(symbols)
  foreach(line IN LISTS lines)
    if(line MATCHES "^([^ ]+) ([A-Za-z]) ")
      list(APPEND symbols "${CMAKE_MATCH_2} ${CMAKE_MATCH_1}")
    endif()
  endforeach()
  set(${result} "${symbols}" PARENT_SCOPE)
endfunction()

# The names under `global:` in the version script, every node. Semicolons become newlines first:
# in CMake a semicolon separates list elements.
file(READ ${VERSION_SCRIPT} script)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" script "${script}")
string(REPLACE ";" "\n" script "${script}")
string(REGEX MATCHALL "global:[^}]*" sections "${script}")
set(api)
foreach(section IN LISTS sections)
  string(REGEX REPLACE "local:.*" "" section "${section}")
  string(REGEX MATCHALL "[A-Za-z_][A-Za-z0-9_]*[ \t]*\n" names "${section}")
  foreach(name IN LISTS names)
    string(STRIP "${name}" name)
    list(APPEND api ${name})
  endforeach()
endforeach()
if(NOT api)
  message(FATAL_ERROR "no global names in ${VERSION_SCRIPT}")
endif()
list(SORT api)

global_symbols(${INPUT} before)
set(unique)
foreach(symbol IN LISTS before)
  if(symbol MATCHES "^u (.*)")
    list(APPEND unique "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(JOIN unique "\n" unique_text)
list(JOIN api "\n" api_text)
file(WRITE ${OUTPUT}.unique "${unique_text}\n")
file(WRITE ${OUTPUT}.api "${api_text}\n")

run(${OBJCOPY} --weaken-symbols=${OUTPUT}.unique ${INPUT} ${OUTPUT}.tmp)
run(${OBJCOPY} --keep-global-symbols=${OUTPUT}.api ${OUTPUT}.tmp ${OUTPUT}.tmp)

# What is left global must be exactly the API, every call defined as code.
global_symbols(${OUTPUT}.tmp after)
set(expected)
foreach(name IN LISTS api)
  list(APPEND expected "T ${name}")
endforeach()
list(SORT after)
if(NOT after STREQUAL expected)
  message(FATAL_ERROR
    "the static object's global symbols are\n  ${after}\nnot the API\n  ${expected}")
endif()
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
file(REMOVE ${OUTPUT}.unique ${OUTPUT}.api)
