// yq_input_loader: accepts the image as a stream of 8-bit pixels in planar order
// (R plane, G plane, B plane; each row-major) and writes the input codes p >> SHIFT
// (the spec's input rule) to consecutive addresses from OUT_BASE. Cycles: N + LAT when
// the stream delivers one pixel per cycle.
module yq_input_loader #(
    parameter AW = 12, parameter DW = 8, parameter N = 1, parameter NW = 16,
    parameter SHIFT = 0,
    parameter [AW-1:0] OUT_BASE = 0
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    input wire in_valid,
    input wire [7:0] in_data,
    output wire in_ready,
    output reg wr_en,
    output reg [AW-1:0] wr_addr,
    output reg [DW-1:0] wr_data
);
    localparam [NW-1:0] N_M1 = N - 1;
    reg running;
    reg [NW-1:0] i;
    reg [AW-1:0] a;
    wire take = running && in_valid;
    wire [DW-1:0] code;
    assign in_ready = running;
    wire [7:0] shifted = in_data >> SHIFT;
    generate
        if (DW > 8) begin : g_wide
            assign code = {{(DW-8){1'b0}}, shifted};
        end else if (DW == 8) begin : g_same
            assign code = shifted;
        end else begin : g_narrow
            // SHIFT = 8 - (input bits) <= 8 - DW, so the dropped bits are zero.
            assign code = shifted[DW-1:0];
            wire unused_hi = ^shifted[7:DW];
        end
    endgenerate
    // The write is registered so that the memory never sees the stream's combinational path.
    always @(posedge clk) begin
        wr_en <= !rst && take;
        wr_addr <= take ? a : {AW{1'b0}};
        wr_data <= take ? code : {DW{1'b0}};
    end
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0; done <= 1'b0;
        end else begin
            done <= 1'b0;
            if (go) begin
                running <= 1'b1; i <= 0; a <= OUT_BASE;
            end else if (take) begin
                i <= i + 1'b1; a <= a + 1'b1;
                if (i == N_M1) begin
                    running <= 1'b0; done <= 1'b1;
                end
            end
        end
    end
endmodule
