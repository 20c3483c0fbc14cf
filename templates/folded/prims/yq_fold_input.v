// yq_fold_input: the folded engine's input unit. Takes N pixel bytes (planar RGB, row-major)
// from the input stream and writes the codes p >> SHIFT from OUT, one per accepted byte.
// Cycles: N + 1 when the stream never stalls (the last write lands with `done`).
module yq_fold_input #(
    parameter AB = 17
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    input wire [AB-1:0] d_n, input wire [AB-1:0] d_out, input wire [7:0] d_shift,
    input wire in_valid, input wire [7:0] in_data, output wire in_ready,
    output reg m_wr, output reg [AB-1:0] m_addr, output reg [15:0] m_wdata
);
    localparam [AB-1:0] ONE_A = 1;
    reg run;
    reg [AB-1:0] i;
    assign in_ready = run;
    wire [AB-1:0] a = d_out + i;
    // the write is registered: the code of a byte taken in cycle t is written in t + 1
    always @(posedge clk) begin
        m_wr <= !rst && run && in_valid;
        m_addr <= (run && in_valid) ? a : {AB{1'b0}};
        m_wdata <= (run && in_valid) ? {8'd0, in_data >> d_shift[2:0]} : 16'd0;
    end
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst) begin
            run <= 1'b0;
        end else if (go) begin
            run <= 1'b1; i <= 0;
        end else if (run && in_valid) begin
            i <= i + ONE_A;
            if (i == d_n - ONE_A) begin
                run <= 1'b0; done <= 1'b1;
            end
        end
    end
    wire unused = ^{d_shift[7:3]};
endmodule
