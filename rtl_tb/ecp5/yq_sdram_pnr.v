// yq_sdram_pnr: a place-and-route harness for yq_sdram_ctrl on the ULX3S (LFE5U-85F,
// CABGA381): the controller on the board's SDRAM pins with a self-checking traffic
// generator. Each pass writes the whole 16M-word array in address order with a pattern of
// the address and the pass number, then reads it back and compares; led[0] = initialised,
// led[1] = a mismatch was seen (sticky), led[7:2] = passes done. The SDRAM clock is the
// controller's clock inverted, made by an ODDRX1F (D0 = 0, D1 = 1) so it leaves through
// the I/O cell like the other pins. Pin names follow rtl_tb/ecp5/yq_sdram_pnr.lpf.
// CLK_HZ sizes the controller's cycle counts for the 100 MHz place-and-route target. The
// clock here is the 25 MHz pin itself (no PLL yet), so a bitstream for the board itself
// needs CLK_HZ = 25000000.
module yq_sdram_pnr #(
    parameter CLK_HZ = 100000000
) (
    input wire clk_25mhz,
    output wire [7:0] led,
    output wire sdram_clk,
    output wire sdram_cke,
    output wire sdram_csn,
    output wire sdram_rasn,
    output wire sdram_casn,
    output wire sdram_wen,
    output wire [1:0] sdram_ba,
    output wire [12:0] sdram_a,
    output wire [1:0] sdram_dqm,
    inout wire [15:0] sdram_d
);
    wire clk = clk_25mhz;

    reg [3:0] rst_sh = 4'hF;
    always @(posedge clk) rst_sh <= {rst_sh[2:0], 1'b0};
    wire rst = rst_sh[3];

    ODDRX1F u_clk_out (.D0(1'b0), .D1(1'b1), .SCLK(clk), .RST(1'b0), .Q(sdram_clk));

    wire ready, rvalid, init_done, dq_oe;
    wire [15:0] rdata, dq_o;
    reg phase = 1'b0;               // 0 writing, 1 reading
    reg [23:0] a_req = 24'd0;       // next address to request
    reg [23:0] a_rsp = 24'd0;       // address of the next read response
    reg [5:0] pass = 6'd0;
    reg bad = 1'b0;
    reg all_req = 1'b0;             // every read of this pass requested

    function [15:0] pattern(input [23:0] ad, input [5:0] ps);
        pattern = ad[15:0] ^ {ad[23:16], ad[23:16]} ^ {ps, 10'd0} ^ {10'd0, ps};
    endfunction

    wire req = init_done && !(phase && all_req);
    yq_sdram_ctrl #(.CLK_HZ(CLK_HZ)) u_ctrl (
        .clk(clk), .rst(rst), .req(req), .we(!phase), .addr(a_req),
        .wdata(pattern(a_req, pass)), .wbe(2'b11), .ready(ready), .rvalid(rvalid),
        .rdata(rdata), .init_done(init_done), .sd_cke(sdram_cke), .sd_cs_n(sdram_csn),
        .sd_ras_n(sdram_rasn), .sd_cas_n(sdram_casn), .sd_we_n(sdram_wen), .sd_ba(sdram_ba),
        .sd_a(sdram_a), .sd_dqm(sdram_dqm), .sd_dq_o(dq_o), .sd_dq_oe(dq_oe),
        .sd_dq_i(sdram_d)
    );
    assign sdram_d = dq_oe ? dq_o : 16'bz;

    always @(posedge clk) begin
        if (req && ready) begin
            a_req <= a_req + 1'b1;
            if (a_req == 24'hFFFFFF) begin
                if (!phase) phase <= 1'b1;
                else all_req <= 1'b1;
            end
        end
        if (rvalid) begin
            if (rdata != pattern(a_rsp, pass)) bad <= 1'b1;
            a_rsp <= a_rsp + 1'b1;
            if (a_rsp == 24'hFFFFFF) begin
                phase <= 1'b0;
                all_req <= 1'b0;
                pass <= pass + 1'b1;
            end
        end
        if (rst) begin
            phase <= 1'b0;
            a_req <= 24'd0;
            a_rsp <= 24'd0;
            pass <= 6'd0;
            bad <= 1'b0;
            all_req <= 1'b0;
        end
    end
    assign led = {pass, bad, init_done};
endmodule
