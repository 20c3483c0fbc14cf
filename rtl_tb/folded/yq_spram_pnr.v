// yq_spram_pnr: a place-and-route harness for yq_spram on the UP5K (sg48): the port inputs
// (cs, we, be, addr, wdata) come from a serial-in shift register, rdata is captured into a
// serial-out shift register on `load`, so every path through the memory starts and ends at
// flip-flops. Pins as yq_mac_array_pnr (its rst pin unused here).
module yq_spram_pnr (
    input wire clk,
    input wire sin,
    input wire load,
    output wire sout
);
    reg [35:0] in_sh;
    always @(posedge clk) in_sh <= {in_sh[34:0], sin};

    wire [15:0] rdata;
    yq_spram #(.IMPL("ice40")) u_mem (
        .clk(clk), .cs(in_sh[0]), .we(in_sh[1]), .be(in_sh[3:2]), .addr(in_sh[19:4]),
        .wdata(in_sh[35:20]), .rdata(rdata)
    );

    reg [15:0] out_sh;
    always @(posedge clk) out_sh <= load ? rdata : {1'b0, out_sh[15:1]};
    assign sout = out_sh[0];
endmodule
