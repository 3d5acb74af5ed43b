# clustersim_embed(TARGET SYMBOL FILE...): compiles the given data files into TARGET as a table
#   const clustersim::EmbeddedFile SYMBOL[]; const std::size_t SYMBOL_count;
# so that the executable carries its built-in catalogs and works from any directory.
set(CLUSTERSIM_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/EmbedScript.cmake)
function(clustersim_embed target symbol)
  set(files ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${symbol}_embedded.cpp)
  set(abs_files)
  foreach(f ${files})
    get_filename_component(a ${f} ABSOLUTE)
    list(APPEND abs_files ${a})
  endforeach()
  string(REPLACE ";" "|" joined "${abs_files}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol} "-DFILES=${joined}" -P ${CLUSTERSIM_EMBED_SCRIPT}
    DEPENDS ${abs_files} ${CLUSTERSIM_EMBED_SCRIPT}
    COMMENT "Embedding ${symbol}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
