// yq_uart_pnr: a place-and-route harness for the UART on the iCEBreaker: every byte received
// on `rx` (FT2232H channel B, FPGA pin 6) is sent back on `tx` (pin 9); `led` lights after a
// framing error. A power-on counter provides the reset. CLKS_PER_BIT = 12: 1 Mbaud at the
// 12 MHz oscillator (3 Mbaud from a 36 MHz PLL clock).
module yq_uart_pnr (
    input wire clk,
    input wire rx,
    output wire tx,
    output reg led
);
    reg [3:0] por = 4'd0;
    wire rst = !por[3];
    always @(posedge clk) if (rst) por <= por + 1'b1;

    wire [7:0] data;
    wire valid, frame_err, ready;
    yq_uart_rx #(.CLKS_PER_BIT(12)) u_rx (
        .clk(clk), .rst(rst), .rx(rx), .data(data), .valid(valid), .frame_err(frame_err)
    );
    yq_uart_tx #(.CLKS_PER_BIT(12)) u_tx (
        .clk(clk), .rst(rst), .data(data), .valid(valid), .ready(ready), .tx(tx)
    );
    always @(posedge clk) begin
        if (rst) led <= 1'b0;
        else if (frame_err) led <= 1'b1;
    end
endmodule
