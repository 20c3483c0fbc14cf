// yq_spram: the UP5K activation memory, 64K x 16 bits in 4 banks of 16K x 16 (bank = addr[15:14]),
// single port, byte write enables, one cycle read latency.
//
// Interface (all sampled at the rising edge of clk):
//   cs=1, we=0: read word `addr`. `rdata` shows it from the next cycle on and keeps it while
//               the memory is idle (cs=0) and while only other banks are written.
//   cs=1, we=1: write `wdata` to word `addr`, byte 0 (bits 7:0) if be[0], byte 1 if be[1]
//               (be=00 writes nothing). A single port: nothing is read in a write cycle, and a
//               write makes the written bank's output undefined (X in simulation), so `rdata`
//               is undefined after a write to the bank that was read last. Callers take
//               `rdata` only in the cycle after a read, or keep it in a register.
//   cs=0      : idle.
// Contents are undefined until written.
//
// IMPL = "ice40": 4 x SB_SPRAM256KA, MASKWREN = {be[1], be[1], be[0], be[0]} (one bit per
// nibble), POWEROFF=1 (powered), SLEEP=STANDBY=0. IMPL = "generic": 4 behavioural banks with
// the same clocked behaviour as that cell (DATAOUT X after a write, held while not selected).
// The bank of the last read is registered and selects `rdata` in both.
module yq_spram #(
    parameter IMPL = "ice40"
) (
    input wire clk,
    input wire cs,
    input wire we,
    input wire [15:0] addr,
    input wire [15:0] wdata,
    input wire [1:0] be,
    output wire [15:0] rdata
);
    wire [63:0] dout;     // bank k's output in bits [16*k +: 16]
    reg [1:0] bank_q = 2'd0;
    always @(posedge clk) if (cs && !we) bank_q <= addr[15:14];
    assign rdata = dout[16*bank_q +: 16];

    wire [3:0] mask = {be[1], be[1], be[0], be[0]};

    genvar k;
    generate
        for (k = 0; k < 4; k = k + 1) begin : g_bank
            wire sel = cs && (addr[15:14] == k);
            if (IMPL == "ice40") begin : g_ice40
                SB_SPRAM256KA u_ram (
                    .ADDRESS(addr[13:0]), .DATAIN(wdata), .MASKWREN(mask), .WREN(we),
                    .CHIPSELECT(sel), .CLOCK(clk), .STANDBY(1'b0), .SLEEP(1'b0),
                    .POWEROFF(1'b1), .DATAOUT(dout[16*k +: 16])
                );
            end else begin : g_generic
                reg [15:0] mem [0:16383];
                reg [15:0] q;
                always @(posedge clk) begin
                    if (sel) begin
                        if (!we) begin
                            q <= mem[addr[13:0]];
                        end else begin
                            if (mask[0]) mem[addr[13:0]][3:0] <= wdata[3:0];
                            if (mask[1]) mem[addr[13:0]][7:4] <= wdata[7:4];
                            if (mask[2]) mem[addr[13:0]][11:8] <= wdata[11:8];
                            if (mask[3]) mem[addr[13:0]][15:12] <= wdata[15:12];
                            q <= 16'bx;
                        end
                    end
                end
                assign dout[16*k +: 16] = q;
            end
        end
    endgenerate
endmodule
