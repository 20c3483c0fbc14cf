// yq_mem: the shared activation memory. One registered read port, one write port
// (simple dual port; maps to block RAM). Every layer module reads and writes it in turn.
module yq_mem #(
    parameter AW = 10,
    parameter DW = 8,
    parameter DEPTH = 1024
) (
    input wire clk,
    input wire re,
    input wire [AW-1:0] raddr,
    output reg [DW-1:0] rdata,
    input wire we,
    input wire [AW-1:0] waddr,
    input wire [DW-1:0] wdata
);
    reg [DW-1:0] mem [0:DEPTH-1];
    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        if (re) rdata <= mem[raddr];
    end
endmodule
