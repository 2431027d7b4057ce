"""The planner's helpers: vector kernels and scoring that the pipeline's stages share.

None of them is a stage: `columns` and `rowwise` read and reduce the candidate table's
columns fast; `ranking`, `fitness`, `constraints` and `balanced` score and pick rows;
`commits` books a placement; `packing` and `improve` pack a shortfall onto the fewest new
instances; `explain` says why a task cannot be placed.
"""
