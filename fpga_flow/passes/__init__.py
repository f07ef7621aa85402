"""Graph passes: each takes a Graph and returns a new Graph, one concern each."""

from fpga_flow.passes.accumulators import infer_accumulators
from fpga_flow.passes.fuse import fuse_activations
from fpga_flow.passes.merge import align_merge_inputs
from fpga_flow.passes.pixels import pixel_splits, split_pixels
from fpga_flow.passes.scales import scales_to_dense
from fpga_flow.passes.storage import choose_storage

__all__ = ["align_merge_inputs", "choose_storage", "fuse_activations", "infer_accumulators", "pixel_splits",
           "scales_to_dense", "split_pixels"]
