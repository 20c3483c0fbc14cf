// yq_fold_mem: the folded engine's activation memory, 2^AW words of 16 bits with byte write
// enables and a registered read (one cycle latency); one access per cycle (the engine never
// reads and writes in the same cycle). IMPL "generic" is a plain array for simulation and
// non-iCE40 targets; on the UP5K the same interface maps onto the four SB_SPRAM256KA.
module yq_fold_mem #(
    parameter AW = 16,
    parameter IMPL = "generic"
) (
    input wire clk,
    input wire re,
    input wire we,
    input wire [AW-1:0] addr,
    input wire [1:0] be,
    input wire [15:0] wdata,
    output reg [15:0] rdata
);
    reg [15:0] mem [0:(1 << AW) - 1];
    always @(posedge clk) begin
        if (we && be[0]) mem[addr][7:0] <= wdata[7:0];
        if (we && be[1]) mem[addr][15:8] <= wdata[15:8];
        if (re) rdata <= mem[addr];
    end
    wire unused = ^{IMPL};
endmodule
