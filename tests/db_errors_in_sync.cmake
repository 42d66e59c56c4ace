# The test db_errors_generated_in_sync (cmake -P): generates the database error classes again from PostgreSQL's
# errcodes.txt into OUT_DIR with tools/gen_db_errors.py (run by PYTHON) and compares them with the committed
# ones in SOURCE_DIR. Says "SKIPPED" (the test's SKIP_REGULAR_EXPRESSION) when ERRCODES is not installed.
if(NOT EXISTS "${ERRCODES}")
  message("SKIPPED: ${ERRCODES} is not installed (Debian: postgresql-15)")
  return()
endif()
file(REMOVE_RECURSE "${OUT_DIR}")
execute_process(COMMAND "${PYTHON}" "${SOURCE_DIR}/tools/gen_db_errors.py" --out-dir "${OUT_DIR}" "${ERRCODES}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tools/gen_db_errors.py failed: ${rc}")
endif()
foreach(f include/corio/db/errors_generated.hpp src/db/errors_generated.cpp)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${OUT_DIR}/${f}" "${SOURCE_DIR}/${f}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${f} differs from what tools/gen_db_errors.py makes of ${ERRCODES} (see ${OUT_DIR}/${f}): "
                        "rerun the generator and commit its output")
  endif()
endforeach()
