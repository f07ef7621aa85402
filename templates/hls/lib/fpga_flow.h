// fpga-flow HLS library: everything the generated top function instantiates.
#ifndef FPGA_FLOW_H_
#define FPGA_FLOW_H_

#include "fpga_flow_common.h"
#include "fpga_flow_axis.h"
#include "fpga_flow_elementwise.h"
#include "fpga_flow_dense.h"
#include "fpga_flow_csr.h"
#include "fpga_flow_codebook.h"
#include "fpga_flow_skip.h"
#include "fpga_flow_window.h"

#endif
