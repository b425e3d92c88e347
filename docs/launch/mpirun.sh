#!/bin/bash
# Two processes through Open MPI (one per host of the hostfile). kforge reads OMPI_COMM_WORLD_RANK and
# OMPI_COMM_WORLD_SIZE; process 0's address comes from KFORGE_COORDINATOR, passed on with -x.
mpirun -np 2 --hostfile hosts -x KERAS_BACKEND=jax -x KFORGE_COORDINATOR=node01:12355 kforge train digits_mlp --devices all --output runs
